# dataplane tests: unit tests of the ring and loop, integration tests over loopback.
if(TARGET vx_dataplane)
	vx_add_test(test_dataplane_loop
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_loop.c
		LIBS vx_dataplane LABEL unit TIMEOUT 60)
	vx_add_test(test_dataplane_alloc
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_alloc.c
		LIBS vx_dataplane LABEL unit TIMEOUT 60)
	vx_add_test(test_dataplane_wire
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_wire.c
		LIBS vx_dataplane LABEL unit TIMEOUT 60)
	target_include_directories(test_dataplane_wire PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
endif()
if(TARGET vx_dataplane)
	vx_add_test(dataplane_upload
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_upload.c
			${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_harness.c
		LIBS vx_dataplane PkgConfig::ZLIB Threads::Threads LABEL integration TIMEOUT 120)
endif()
if(TARGET vx_dataplane)
	vx_add_test(dataplane_fetch
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_fetch.c
			${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_harness.c
		LIBS vx_dataplane PkgConfig::ZLIB Threads::Threads LABEL integration TIMEOUT 180)
endif()
if(TARGET vx_dataplane)
	vx_add_test(dataplane_fetch_live
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_fetch_live.c
			${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_harness.c
		LIBS vx_dataplane PkgConfig::ZLIB Threads::Threads LABEL integration TIMEOUT 180)
endif()
if(TARGET vx_dataplane)
	vx_add_test(dataplane_fetch_big
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_fetch_big.c
			${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_harness.c
		LIBS vx_dataplane PkgConfig::ZLIB Threads::Threads LABEL integration TIMEOUT 600)
endif()
if(TARGET vx_dataplane)
	vx_add_fuzz(dataplane_wire SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_dataplane_wire.c
		LIBS vx_dataplane)
	# The parsers under test are private to dataplane/.
	target_include_directories(replay_dataplane_wire PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	if(TARGET fuzz_dataplane_wire)
		target_include_directories(fuzz_dataplane_wire PRIVATE
			${CMAKE_SOURCE_DIR}/dataplane/src)
	endif()
endif()
if(TARGET vx_dataplane)
	# The fetcher's receive path over a fake transport, through its private I/O seam.
	vx_add_fuzz(fetch_conn SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_fetch_conn.c
		LIBS vx_dataplane)
	target_include_directories(replay_fetch_conn PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	if(TARGET fuzz_fetch_conn)
		target_include_directories(fuzz_fetch_conn PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	endif()
endif()
if(TARGET vx_dataplane AND TARGET vx_storage)
	vx_add_test(dataplane_store
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_store.c
			${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_harness.c
		LIBS vx_dataplane vx_storage PkgConfig::ZLIB Threads::Threads LABEL integration
		TIMEOUT 120)
endif()
if(TARGET vx_dataplane)
	# The picker is private to dataplane/: pure functions over its tables, no loop.
	vx_add_test(test_dataplane_pick
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_pick.c
		LIBS vx_dataplane LABEL unit TIMEOUT 60)
	target_include_directories(test_dataplane_pick PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
endif()

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
	# The fetcher's receive path over a fake transport, through its private I/O seam.
	vx_add_fuzz(fetch_conn SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_fetch_conn.c
		LIBS vx_dataplane)
	target_include_directories(replay_fetch_conn PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	if(TARGET fuzz_fetch_conn)
		target_include_directories(fuzz_fetch_conn PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	endif()
	# The upload server's connection path with no socket and no ring: upload.c compiled
	# against a fake loop (tests/fuzz/fake_loop.c) in place of loop.c and ring.c.
	add_library(vx_upload_sim STATIC ${CMAKE_SOURCE_DIR}/dataplane/src/upload.c
		${CMAKE_SOURCE_DIR}/dataplane/src/file_task.c
		${CMAKE_SOURCE_DIR}/dataplane/src/dp_tls.c
		${CMAKE_SOURCE_DIR}/dataplane/src/dp_tlsrec.c
		${CMAKE_SOURCE_DIR}/dataplane/src/dp_lz4.c
		${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fake_loop.c)
	target_compile_options(vx_upload_sim PRIVATE ${VX_WARNINGS})
	target_include_directories(vx_upload_sim PUBLIC ${CMAKE_SOURCE_DIR}/dataplane/include
		${CMAKE_SOURCE_DIR}/dataplane/src ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
	target_link_libraries(vx_upload_sim PUBLIC vx_vortex vx_common PkgConfig::URING
		PkgConfig::OPENSSL PkgConfig::LZ4)
	vx_add_fuzz(upload_conn SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_upload_conn.c
		LIBS vx_upload_sim)
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
if(TARGET vx_dataplane)
	# The data plane's own TLS 1.3 records against plain OpenSSL, in memory (dp_tlsrec.h).
	# A throwaway self-signed identity, made in memory, for it and the fuzz target below.
	add_library(vx_test_selfsigned STATIC ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/tls_selfsigned.c)
	target_compile_options(vx_test_selfsigned PRIVATE ${VX_WARNINGS})
	target_include_directories(vx_test_selfsigned PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
	target_link_libraries(vx_test_selfsigned PUBLIC vx_common PkgConfig::OPENSSL)
	vx_add_test(test_dataplane_tlsrec
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_tlsrec.c
		LIBS vx_dataplane vx_test_selfsigned PkgConfig::OPENSSL LABEL unit TIMEOUT 60)
	target_include_directories(test_dataplane_tlsrec PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	# lz4 piece bodies: the sender's decision, the checked decompression, the cache (dp_lz4.c).
	vx_add_test(test_dataplane_lz4
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_lz4.c
		LIBS vx_dataplane PkgConfig::LZ4 LABEL unit TIMEOUT 60)
	target_include_directories(test_dataplane_lz4 PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
endif()
if(TARGET vx_dataplane)
	# TLS on the data plane; certificates from tests/integration/tls_certs.sh (openssl CLI).
	vx_add_test(dataplane_tls
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_tls.c
			${CMAKE_CURRENT_SOURCE_DIR}/integration/dataplane_harness.c
		LIBS vx_dataplane PkgConfig::OPENSSL PkgConfig::ZLIB Threads::Threads
		LABEL integration TIMEOUT 180)
endif()
if(TARGET vx_dataplane)
	# The TLS identity parser and the engine's record feeding (dp_tls.h, private).
	vx_add_fuzz(dp_tls SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_dp_tls.c
		LIBS vx_dataplane vx_test_selfsigned PkgConfig::OPENSSL)
	target_include_directories(replay_dp_tls PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	if(TARGET fuzz_dp_tls)
		target_include_directories(fuzz_dp_tls PRIVATE ${CMAKE_SOURCE_DIR}/dataplane/src)
	endif()
endif()
if(TARGET vx)
	# The upload server under abuse, through the daemon (tests/integration/upload_*.sh): readers
	# that stall, and one address holding many connections.
	foreach(t stalled_readers addr_limit)
		add_test(NAME upload_${t}
			COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/upload_${t}.sh $<TARGET_FILE:vx>)
		set_tests_properties(upload_${t} PROPERTIES LABELS integration TIMEOUT 120
			SKIP_RETURN_CODE 77)
	endforeach()
endif()

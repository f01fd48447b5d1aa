# Tests of the local API server (peer/src/api.c) with libvx as its client. api.c is compiled
# into the test itself rather than linked through vx_peer, so the API is tested on its own,
# whatever state the rest of the daemon is in.
if(TARGET vx_sdk AND EXISTS ${CMAKE_SOURCE_DIR}/peer/src/api.c)
	vx_add_test(test_peer_api
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_peer_api.c
			${CMAKE_SOURCE_DIR}/peer/src/api.c
		LIBS vx_sdk vx_control vx_common Threads::Threads LABEL integration TIMEOUT 180)
	target_include_directories(test_peer_api PRIVATE ${CMAKE_SOURCE_DIR}/peer/include)
endif()

# The real API server in front of a fake download, for driving installed libvx programs.
if(TARGET vx_sdk AND EXISTS ${CMAKE_SOURCE_DIR}/peer/src/api.c)
	vx_add_executable(api_fake_daemon
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/api_fake_daemon.c
			${CMAKE_SOURCE_DIR}/peer/src/api.c
		LIBS vx_control vx_common Threads::Threads)
	target_include_directories(api_fake_daemon PRIVATE ${CMAKE_SOURCE_DIR}/peer/include)
endif()

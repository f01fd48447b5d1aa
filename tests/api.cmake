# Tests of the api room: the local API server with libvx as its client (test_peer_api), libvx
# against a fake daemon (test_sdk_client), and the installed libvx through pkg-config.
if(TARGET vx_api)
	vx_add_test(test_peer_api SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_peer_api.c
		LIBS vx_api Threads::Threads LABEL integration TIMEOUT 180)
	vx_add_test(test_sdk_client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sdk_client.c
		LIBS vx_api Threads::Threads LABEL integration TIMEOUT 120)
	# The real API server in front of a fake download, for driving installed libvx programs.
	vx_add_executable(api_fake_daemon
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/api_fake_daemon.c
		LIBS vx_api Threads::Threads)
	add_test(NAME sdk_pkgconfig
		COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/sdk_pkgconfig.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER} $<TARGET_FILE:api_fake_daemon>)
	set_tests_properties(sdk_pkgconfig PROPERTIES LABELS integration TIMEOUT 120)
endif()

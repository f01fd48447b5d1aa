# Tests of the api room: the local API server with libvx as its client (test_peer_api), libvx
# against a fake daemon (test_sdk_client), the installed libvx through pkg-config, and the
# server's request path fuzzed through a fake transport (fuzz_api_server).
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
	if(TARGET vx)
		add_test(NAME api_rate COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/api_rate.sh
			$<TARGET_FILE:vx>)
		set_tests_properties(api_rate PROPERTIES LABELS integration TIMEOUT 120
			SKIP_RETURN_CODE 77)
	endif()
	# The server's request path through a fake transport (api_int.h is private to api/).
	vx_add_fuzz(api_server SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_api_server.c
		LIBS vx_api)
	foreach(t replay_api_server fuzz_api_server)
		if(TARGET ${t})
			target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/api/src)
		endif()
	endforeach()
endif()

# Tests of the sdk room (libvx). The client against the real API server is in peer_api.cmake,
# which is read before this file and provides api_fake_daemon.
if(TARGET vx_dist)
	set(vx_sdk_fake "")
	if(TARGET api_fake_daemon)
		set(vx_sdk_fake $<TARGET_FILE:api_fake_daemon>)
	endif()
	add_test(NAME sdk_pkgconfig
		COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/sdk_pkgconfig.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER} ${vx_sdk_fake})
	set_tests_properties(sdk_pkgconfig PROPERTIES LABELS integration TIMEOUT 120)
endif()
if(TARGET vx_sdk)
	vx_add_test(test_sdk_client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sdk_client.c
		LIBS vx_sdk vx_control vx_common Threads::Threads LABEL integration TIMEOUT 120)
endif()

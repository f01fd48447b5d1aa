# Tests of the sdk room (libvx). The client against the real API server is in peer_api.cmake.
if(TARGET vx_dist)
	add_test(NAME sdk_pkgconfig
		COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/sdk_pkgconfig.sh ${CMAKE_BINARY_DIR}
			${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER})
	set_tests_properties(sdk_pkgconfig PROPERTIES LABELS integration TIMEOUT 120)
endif()
if(TARGET vx_sdk)
	vx_add_test(test_sdk_client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sdk_client.c
		LIBS vx_sdk vx_control vx_common Threads::Threads LABEL integration TIMEOUT 120)
endif()

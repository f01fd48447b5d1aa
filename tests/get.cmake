# vx get: the back-to-source driver (origin/) and the `vx get` command (cli/).
if(TARGET vx)
	add_test(NAME get_cli COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/get_cli.sh
		$<TARGET_FILE:vx>)
	set_tests_properties(get_cli PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
if(TARGET vx_origin)
	# Starts python3 origins on loopback (http.server, the sources tests' origin script).
	vx_add_test(test_origin
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_origin.c
		LIBS vx_origin vx_sources vx_storage vx_vortex vx_common Threads::Threads
		LABEL integration TIMEOUT 180)
	target_include_directories(test_origin PRIVATE
		${CMAKE_CURRENT_SOURCE_DIR}/integration)
endif()

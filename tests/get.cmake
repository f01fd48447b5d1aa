# vx get: the back-to-source conductor (dataplane/) and the `vx get` command (cli/).
if(TARGET vx)
	add_test(NAME get_cli COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/get_cli.sh
		$<TARGET_FILE:vx>)
	set_tests_properties(get_cli PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
if(TARGET vx_dataplane AND TARGET vx_sources AND TARGET vx_storage)
	# Starts python3 origins on loopback (http.server, the sources tests' origin script).
	vx_add_test(test_dataplane_conductor
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_conductor.c
		LIBS vx_dataplane vx_sources vx_storage vx_vortex vx_common Threads::Threads
		LABEL integration TIMEOUT 180)
	target_include_directories(test_dataplane_conductor PRIVATE
		${CMAKE_CURRENT_SOURCE_DIR}/integration)
endif()

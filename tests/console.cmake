# The web console (manager/console) in Debian's headless Chromium; screenshots are kept in the
# test's build directory (console_artifacts/) as artifacts.
if(TARGET vx)
	add_test(NAME console_chromium
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/console_chromium.sh $<TARGET_FILE:vx>
			${CMAKE_CURRENT_BINARY_DIR}/console_artifacts)
	set_tests_properties(console_chromium PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
# The scheduler core's side of the console: traffic accounting, swarm edges, the blocklist.
if(TARGET vx_control)
	vx_add_test(test_control_sched_view
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_sched_view.c LIBS vx_control)
endif()

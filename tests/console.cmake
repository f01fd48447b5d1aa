# The web console (manager/console) in Debian's headless Chromium; screenshots are kept in the
# test's build directory (console_artifacts/) as artifacts.
if(TARGET vx)
	add_test(NAME console_chromium
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/console_chromium.sh $<TARGET_FILE:vx>
			${CMAKE_CURRENT_BINARY_DIR}/console_artifacts)
	set_tests_properties(console_chromium PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()

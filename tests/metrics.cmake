# Seeing the cluster (issue 17): metrics, health, JSON logs and request ids with a real
# Prometheus, promtool and tmux; spec/metrics.md.
if(TARGET vx)
	add_test(NAME metrics_prom
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/metrics_prom.sh $<TARGET_FILE:vx>
			${CMAKE_SOURCE_DIR})
	set_tests_properties(metrics_prom PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
if(TARGET vx)
	add_test(NAME metrics_top
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/metrics_top.sh $<TARGET_FILE:vx>)
	set_tests_properties(metrics_top PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()

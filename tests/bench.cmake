# bench room: a smoke run of the `vx-bench swarm` testbed (N=2, 8 MiB, shaped namespaces) so the
# harness cannot rot. Skips (77) where network namespaces cannot be made; runs vx only when
# this build has `vx serve`. The long runs are benchmarks (bench/RESULTS.md), not tests.
if(TARGET vx-bench)
	if(TARGET vx)
		set(vx_bench_swarm_vx $<TARGET_FILE:vx>)
	else()
		set(vx_bench_swarm_vx "")
	endif()
	add_test(NAME bench_swarm_smoke
		COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/bench_swarm.sh
			$<TARGET_FILE:vx-bench> ${vx_bench_swarm_vx})
	set_tests_properties(bench_swarm_smoke PROPERTIES LABELS integration TIMEOUT 180
		SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
# `vx-bench download` (issue 19 goal 4): 16 MiB through two daemons beside iperf3 and fio.
if(TARGET vx-bench AND TARGET vx)
	add_test(NAME bench_download_smoke
		COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/bench_download.sh
			$<TARGET_FILE:vx-bench> $<TARGET_FILE:vx>)
	set_tests_properties(bench_download_smoke PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
# `vx-bench preheat --image` (issue 14): a 6 MiB image in docker-registry, 2 peers in
# namespaces, pulled cold through their mirrors, preheated by the job API, pulled again.
if(TARGET vx-bench AND TARGET vx)
	add_test(NAME bench_preheat_image_smoke
		COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/bench_preheat_image.sh
			$<TARGET_FILE:vx-bench> $<TARGET_FILE:vx>)
	set_tests_properties(bench_preheat_image_smoke PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()

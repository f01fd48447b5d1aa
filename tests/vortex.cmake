# vortex: codec, task ids, digests. Unit tests, fuzz replays and the `vx task-id` CLI test.
if(TARGET vx_vortex)
	foreach(t frame piece task_id digest)
		vx_add_test(test_vortex_${t}
			SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_vortex_${t}.c LIBS vx_vortex)
	endforeach()
	foreach(f frame piece_content download_piece task_id digest)
		if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${f}.c)
			vx_add_fuzz(${f} SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${f}.c
				LIBS vx_vortex)
		endif()
	endforeach()
	if(TARGET vx)
		add_test(NAME vortex_cli
			COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/vortex_cli.sh $<TARGET_FILE:vx>)
		set_tests_properties(vortex_cli PROPERTIES LABELS integration TIMEOUT 120)
	endif()
endif()

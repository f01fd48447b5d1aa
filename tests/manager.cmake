# The management plane (manager/) end to end: a scheduler with its open API, a seed, two peers
# and an nginx origin on loopback; plus the replay of the job-request decoder's fuzz corpus.
if(TARGET vx)
	foreach(t api image image_auth image_ssrf pg jobs sync pubsub)
		add_test(NAME manager_${t}
			COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/manager_${t}.sh $<TARGET_FILE:vx>)
		set_tests_properties(manager_${t} PROPERTIES LABELS integration TIMEOUT 150
			SKIP_RETURN_CODE 77)
	endforeach()
endif()
if(TARGET vx_manager)
	vx_add_fuzz(manager_req SOURCE ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_manager_req.c
		LIBS vx_manager)
	vx_add_fuzz(manager_sync_req SOURCE ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_manager_sync_req.c
		LIBS vx_manager)
	foreach(f manager_req manager_sync_req)
		target_include_directories(replay_${f} PRIVATE ${CMAKE_SOURCE_DIR}/manager/src)
		if(VX_FUZZ)
			target_include_directories(fuzz_${f} PRIVATE ${CMAKE_SOURCE_DIR}/manager/src)
		endif()
	endforeach()
endif()
# manager_api walks every route, restarts the control plane and waits for jobs: 40-70 s on an
# idle 2-core machine, up to ~120 s beside other tests at load 15; the timeout is a hang guard
if(TARGET vx)
	set_tests_properties(manager_api PROPERTIES TIMEOUT 300)
endif()
# vx sync with the manager's tables in PostgreSQL (the same script, "pg"). manager_sync
# preheats 1,000 objects: ~30 s on a loaded 2-core machine, 80-130 s at load 40; the timeouts
# are hang guards
if(TARGET vx)
	add_test(NAME manager_sync_pg
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/manager_sync.sh $<TARGET_FILE:vx> pg)
	set_tests_properties(manager_sync_pg PROPERTIES LABELS integration TIMEOUT 300
		SKIP_RETURN_CODE 77)
	set_tests_properties(manager_sync PROPERTIES TIMEOUT 300)
endif()

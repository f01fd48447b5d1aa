# The persistent cache end to end (`vx cache`, peer/src/peer_cache.c, control/src/sched_pcache.c):
# shell tests in tests/integration/cache_*.sh on real daemons and a real scheduler on loopback,
# reusing peer_lib.sh. Each takes well under 30 s; TIMEOUT is the hang guard.
if(TARGET vx)
	foreach(t replicas ttl_rm liar input oapi tls reannounce)
		add_test(NAME cache_${t}
			COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/cache_${t}.sh $<TARGET_FILE:vx>)
		set_tests_properties(cache_${t} PROPERTIES LABELS integration TIMEOUT 120
			SKIP_RETURN_CODE 77)
	endforeach()
endif()

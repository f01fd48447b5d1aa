# relay (issue 21): package repositories (APT, DNF, Maven) through the forward proxy
# (proxy.direct_rules) and clusters of clusters (source.upstream_cluster.*,
# proxy.forward_token_file).
if(TARGET vx_proxy)
	vx_add_test(test_proxy_rules SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_proxy_rules.c
		LIBS vx_proxy vx_common)
endif()
if(TARGET vx)
	foreach(t proxy_apt proxy_dnf proxy_maven relay_clusters)
		add_test(NAME ${t} COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/${t}.sh $<TARGET_FILE:vx>)
		set_tests_properties(${t} PROPERTIES LABELS integration TIMEOUT 150 SKIP_RETURN_CODE 77)
	endforeach()
endif()

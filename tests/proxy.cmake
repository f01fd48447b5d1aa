# proxy: the registry mirror in `vx serve`. Integration tests against a real docker-registry
# and skopeo (scripts/deps/proxy.apt; 77 = skip when they are missing), and the fuzz replay of
# the request parser.
vx_add_fuzz(proxy_req SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_proxy_req.c LIBS vx_proxy)
vx_add_fuzz(proxy_fwd SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_proxy_fwd.c LIBS vx_proxy)
vx_add_fuzz(proxy_connect SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_proxy_connect.c LIBS vx_proxy)
if(TARGET vx)
	foreach(t mirror fallback private limits forward connect connect_tls hijack front_idle)
		add_test(NAME proxy_${t}
			COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/proxy_${t}.sh $<TARGET_FILE:vx>)
		set_tests_properties(proxy_${t} PROPERTIES LABELS integration TIMEOUT 150
			SKIP_RETURN_CODE 77)
	endforeach()
	# TLS on the front doors: the management API (and the proxy listener)
	add_test(NAME front_tls COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/front_tls.sh
		$<TARGET_FILE:vx>)
	set_tests_properties(front_tls PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
	# real runtimes with the registry fixtures of registry_lib.sh (scripts/deps/runtime.apt)
	# (proxy_runtimes_tls: the same through HTTPS mirrors)
	foreach(t runtimes runtimes_tls)
		add_test(NAME proxy_${t} COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/proxy_${t}.sh
			$<TARGET_FILE:vx> ${CMAKE_SOURCE_DIR})
		set_tests_properties(proxy_${t} PROPERTIES LABELS integration TIMEOUT 150
			SKIP_RETURN_CODE 77)
	endforeach()
endif()

# Registry mirror fixtures (issue 13): a real registry (Debian's docker-registry) in its three
# auth modes and real clients (skopeo, containerd's ctr), and `vx init` checked by those
# clients. Packages: scripts/deps/runtime.apt.
add_test(NAME registry_fixtures COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/registry_fixtures.sh
	${CMAKE_SOURCE_DIR})
set_tests_properties(registry_fixtures PROPERTIES LABELS integration TIMEOUT 120
	ENVIRONMENT VX_REGISTRY_BIG=1)
add_test(NAME init_runtime COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/init_runtime.sh
	$<TARGET_FILE:vx> ${CMAKE_SOURCE_DIR})
set_tests_properties(init_runtime PROPERTIES LABELS integration TIMEOUT 120)
vx_add_fuzz(init_conf SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_init_conf.c
	LIBS vx_cli_support vx_common)

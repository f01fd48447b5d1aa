# Registry mirror fixtures (issue 13): a real registry (Debian's docker-registry) in its three
# auth modes and real clients (skopeo, containerd's ctr), and `vx init` checked by those
# clients. Packages: scripts/deps/runtime.apt.
add_test(NAME registry_fixtures COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/registry_fixtures.sh
	${CMAKE_SOURCE_DIR})
set_tests_properties(registry_fixtures PROPERTIES LABELS integration TIMEOUT 120
	ENVIRONMENT VX_REGISTRY_BIG=1)

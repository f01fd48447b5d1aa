vx_add_test(test_cli_config SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cli_config.c
	LIBS vx_cli_support vx_common)
vx_add_fuzz(config SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_config.c
	LIBS vx_cli_support vx_common)
# `vx scheduler --config FILE`: flags from YAML (issue 14)
vx_add_fuzz(flag_conf SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_flag_conf.c
	LIBS vx_cli_support vx_common)
# the cluster configuration document, the daemon's and the control plane's path (issue 14)
vx_add_fuzz(cluster_config SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_cluster_config.c
	LIBS vx_cli_support vx_common)
add_test(NAME cli_config_cmd COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/cli_config.sh
	$<TARGET_FILE:vx> ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(cli_config_cmd PROPERTIES LABELS integration TIMEOUT 60)
# `vx doctor`, each check made to fail (issue 20); no_io_uring refuses io_uring_setup to one
# process by seccomp.
vx_add_executable(no_io_uring SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/no_io_uring.c)
add_test(NAME cli_doctor COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/cli_doctor.sh
	$<TARGET_FILE:vx> $<TARGET_FILE:no_io_uring>)
set_tests_properties(cli_doctor PROPERTIES LABELS integration TIMEOUT 120)

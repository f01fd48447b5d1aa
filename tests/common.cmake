vx_add_test(test_common SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common.c LIBS vx_common)
vx_add_test(test_common_net SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_net.c
	LIBS vx_common)
vx_add_test(test_common_pool SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_pool.c
	LIBS vx_common Threads::Threads)
vx_add_test(test_common_outbound SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_outbound.c
	LIBS vx_common)
vx_add_test(test_common_fconn SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_fconn.c
	LIBS vx_common)
vx_add_fuzz(net_addr SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_net_addr.c LIBS vx_common)
vx_add_fuzz(cidr SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_cidr.c LIBS vx_common)
vx_add_fuzz(route SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_route.c LIBS vx_common)
vx_add_fuzz(tls_identity SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_tls_identity.c
	LIBS vx_common)
vx_add_test(test_common_tls SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_tls.c
	LIBS vx_common PkgConfig::OPENSSL)
vx_add_test(test_common_metrics SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_metrics.c
	LIBS vx_common Threads::Threads)
vx_add_fuzz(metrics_find SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_metrics_find.c
	LIBS vx_common)
vx_add_test(test_common_log SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common_log.c LIBS vx_common)

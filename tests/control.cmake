# Tests of the control-frame codecs (vortex: the scheduler protocol and the local API's messages)
# and of the control room: scheduler core, server and client.
vx_add_test(test_control_msg SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_msg.c
	LIBS vx_vortex PkgConfig::CBOR)
vx_add_fuzz(control_msg SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_control_msg.c
	LIBS vx_vortex)
if(TARGET vx_control)
	vx_add_fuzz(control_sched SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_control_sched.c
		LIBS vx_control)
	vx_add_fuzz(sched_tokens SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_sched_tokens.c
		LIBS vx_control)
	vx_add_fuzz(pki SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_pki.c LIBS vx_control)
	vx_add_fuzz(members SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_members.c LIBS vx_control)
	vx_add_test(test_members SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_members.c
		LIBS vx_control)
	vx_add_test(test_pki SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_pki.c
		LIBS vx_control PkgConfig::OPENSSL)
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_sched.c)
		vx_add_test(test_control_sched
			SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_sched.c LIBS vx_control)
	endif()
	vx_add_test(test_control_pcache
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_pcache.c LIBS vx_control)
	# the scheduler's records beside another writer of the sqlite file (issue 14)
	vx_add_test(test_control_sched_db
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_sched_db.c
		LIBS vx_control PkgConfig::SQLITE3)
	target_include_directories(test_control_sched_db PRIVATE ${CMAKE_SOURCE_DIR}/control/src)
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_client.c)
		vx_add_test(test_control_client
			SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_client.c
			LIBS vx_control LABEL integration TIMEOUT 120)
	endif()
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_auth.c)
		vx_add_test(test_control_auth
			SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_control_auth.c
			LIBS vx_control LABEL integration TIMEOUT 120)
	endif()
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/control_swarm.c AND TARGET vx)
		vx_add_test(control_swarm
			SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/control_swarm.c
			LIBS vx_control LABEL integration TIMEOUT 180)
		add_dependencies(control_swarm vx)
	endif()
endif()

# TLS on the control channel (spec/control.md section 10): real scheduler and daemons on
# loopback, certificates by the openssl CLI, attacks by tests/integration/tls_hello.py.
if(TARGET vx)
	add_test(NAME control_tls
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/control_tls.sh $<TARGET_FILE:vx>)
	set_tests_properties(control_tls PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
	# a cluster joined by token, TLS on both planes, revocation (issue 16)
	add_test(NAME tls_cluster
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/tls_cluster.sh $<TARGET_FILE:vx>)
	set_tests_properties(tls_cluster PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
	# members mode over mutual TLS: STARTTLS on the Vortex port, both planes (issue 21)
	add_test(NAME tls_members
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/tls_members.sh $<TARGET_FILE:vx>)
	set_tests_properties(tls_members PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
	# a revoked host's open control and data connections are closed (issue 16)
	add_test(NAME tls_revoke_open
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/tls_revoke_open.sh $<TARGET_FILE:vx>)
	set_tests_properties(tls_revoke_open PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
	# per-address connection limits of the control channel and the mirror (issue 16)
	add_test(NAME conn_limits
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/conn_limits.sh $<TARGET_FILE:vx>)
	set_tests_properties(conn_limits PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
	# tenants from certificates: no read, join or poisoning across them (issue 16)
	add_test(NAME tenant_isolation
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/tenant_isolation.sh $<TARGET_FILE:vx>)
	set_tests_properties(tenant_isolation PROPERTIES LABELS integration TIMEOUT 300
		SKIP_RETURN_CODE 77)
endif()
# the scheduler's task table and database records under phantom registrations (issue 18)
if(TARGET vx)
	add_test(NAME sched_tables
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/sched_tables.sh $<TARGET_FILE:vx>)
	set_tests_properties(sched_tables PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
endif()
# the scheduler's memory in total under slow 1 MiB frames from 300 connections (issue 18)
if(TARGET vx)
	add_test(NAME sched_memory
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/sched_memory.sh $<TARGET_FILE:vx>)
	set_tests_properties(sched_memory PROPERTIES LABELS integration TIMEOUT 150
		SKIP_RETURN_CODE 77)
endif()
# 500 simulated peers at once over the real control protocol: all answered, memory bounded
if(TARGET vx)
	add_test(NAME sched_overload
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/sched_overload.sh $<TARGET_FILE:vx>)
	set_tests_properties(sched_overload PROPERTIES LABELS integration TIMEOUT 200
		SKIP_RETURN_CODE 77)
endif()

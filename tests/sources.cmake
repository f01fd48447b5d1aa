# sources/: unit tests (parsers, file://, the worker), integration tests against real servers
# started by the tests on loopback (nginx, docker-registry, s3rver, a WebHDFS test server), a
# plug-in built as a MODULE, and fuzz targets for every parser.
if(TARGET vx_sources)
	set(vx_src_it ${CMAKE_CURRENT_SOURCE_DIR}/integration)
	vx_add_test(test_sources SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sources.c
		LIBS vx_sources)
	vx_add_test(test_sources_http SOURCES ${vx_src_it}/sources_http.c LIBS vx_sources
		LABEL integration TIMEOUT 90)
	target_include_directories(test_sources_http PRIVATE ${vx_src_it})
endif()
if(TARGET vx_sources)
	vx_add_test(test_sources_s3 SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sources_s3.c
		LIBS vx_sources)
endif()
if(TARGET vx_sources)
	vx_add_test(test_sources_s3_server SOURCES ${vx_src_it}/sources_s3.c LIBS vx_sources
		LABEL integration TIMEOUT 90)
	target_include_directories(test_sources_s3_server PRIVATE ${vx_src_it})
endif()
if(TARGET vx_sources)
	foreach(f source_url source_http_head source_challenge source_s3xml source_json)
		vx_add_fuzz(${f} SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${f}.c LIBS vx_sources)
	endforeach()
endif()
if(TARGET vx_sources)
	vx_add_test(test_sources_oci SOURCES ${vx_src_it}/sources_oci.c LIBS vx_sources
		LABEL integration TIMEOUT 90)
	target_include_directories(test_sources_oci PRIVATE ${vx_src_it})
endif()

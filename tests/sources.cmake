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
	foreach(f source_url source_http_head source_challenge source_s3xml source_json
			source_hub source_index source_absxml)
		vx_add_fuzz(${f} SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${f}.c LIBS vx_sources)
	endforeach()
endif()
if(TARGET vx_sources)
	vx_add_test(test_sources_oci SOURCES ${vx_src_it}/sources_oci.c LIBS vx_sources
		LABEL integration TIMEOUT 90)
	target_include_directories(test_sources_oci PRIVATE ${vx_src_it})
endif()
if(TARGET vx_sources)
	vx_add_test(test_sources_hdfs SOURCES ${vx_src_it}/sources_hdfs.c LIBS vx_sources
		LABEL integration TIMEOUT 60)
	target_include_directories(test_sources_hdfs PRIVATE ${vx_src_it})
endif()
if(TARGET vx_sources)
	# The plug-in the test loads, and the same one claiming an ABI from the future.
	add_library(vx_test_source_plugin MODULE ${vx_src_it}/sources_plugin_mod.c)
	target_include_directories(vx_test_source_plugin PRIVATE ${CMAKE_SOURCE_DIR}/sources/include)
	target_compile_options(vx_test_source_plugin PRIVATE ${VX_WARNINGS})
	add_library(vx_test_source_plugin_bad MODULE ${vx_src_it}/sources_plugin_mod.c)
	target_include_directories(vx_test_source_plugin_bad PRIVATE
		${CMAKE_SOURCE_DIR}/sources/include)
	target_compile_definitions(vx_test_source_plugin_bad PRIVATE VX_TEST_PLUGIN_ABI=99)
	vx_add_test(test_sources_plugin SOURCES ${vx_src_it}/sources_plugin.c LIBS vx_sources
		LABEL integration TIMEOUT 60)
	add_dependencies(test_sources_plugin vx_test_source_plugin vx_test_source_plugin_bad)
	target_compile_definitions(test_sources_plugin PRIVATE
		VX_TEST_PLUGIN_PATH="$<TARGET_FILE:vx_test_source_plugin>"
		VX_TEST_PLUGIN_BAD_ABI_PATH="$<TARGET_FILE:vx_test_source_plugin_bad>")
endif()
if(TARGET vx_sources)
	vx_add_test(test_sources_ftp SOURCES ${vx_src_it}/sources_ftp.c LIBS vx_sources
		LABEL integration TIMEOUT 60)
	target_include_directories(test_sources_ftp PRIVATE ${vx_src_it})
endif()
# An origin that changes between ranged reads, or frames replies with two Content-Lengths.
if(TARGET vx)
	add_test(NAME sources_changing
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/sources_changing.sh $<TARGET_FILE:vx>)
	set_tests_properties(sources_changing PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
# hf:// and modelscope:// against a stand-in hub and its signed storage, through vx serve.
if(TARGET vx)
	add_test(NAME sources_hub
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/sources_hub.sh $<TARGET_FILE:vx>)
	set_tests_properties(sources_hub PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()
# abs:// (Azure Blob Storage) against Azurite: Shared Key, SAS, ranged pieces, listings.
if(TARGET vx)
	add_test(NAME sources_abs
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/sources_abs.sh $<TARGET_FILE:vx>)
	set_tests_properties(sources_abs PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
endif()

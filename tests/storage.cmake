# Tests of the storage room: the piece store on real files and real sqlite.
if(TARGET vx_storage)
	vx_add_test(test_storage SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_storage.c
		LIBS vx_storage PkgConfig::ZLIB LABEL unit TIMEOUT 120)
endif()

# Tests of the storage room: the piece store on real files and real sqlite.
if(TARGET vx_storage)
	vx_add_test(test_storage SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_storage.c
		LIBS vx_storage PkgConfig::ZLIB PkgConfig::OPENSSL LABEL unit TIMEOUT 120)
	# The memory tier: reads by tier, LRU, pinning, the shared budget, sealed read-only fds.
	vx_add_test(test_memtier SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_memtier.c
		LIBS vx_storage PkgConfig::ZLIB Threads::Threads LABEL unit TIMEOUT 60)
	# kill -9 at random points, many rounds, bounded to a few seconds, and power cuts.
	vx_add_test(storage_crash SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/storage_crash.c
		LIBS vx_storage PkgConfig::ZLIB LABEL integration TIMEOUT 120)
	# ...and a power cut: writes not yet synced are undone (pwrite and fdatasync wrapped).
	target_link_options(storage_crash PRIVATE -Wl,--wrap=pwrite -Wl,--wrap=pwrite64
		-Wl,--wrap=fdatasync)
	# Writers, an uploader, a HAVE subscriber, the flusher and GC, all at once.
	vx_add_test(storage_stress SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/storage_stress.c
		LIBS vx_storage PkgConfig::ZLIB LABEL integration TIMEOUT 120)
	# A small tmpfs mounted by the test in its own mount namespace (skips when it cannot).
	vx_add_test(storage_diskfull
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/storage_diskfull.c
		LIBS vx_storage PkgConfig::ZLIB LABEL integration TIMEOUT 60)
	# The metadata loader against corrupt rows (a sqlite file is input like any other).
	vx_add_fuzz(storage_meta SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_storage_meta.c
		LIBS vx_storage)
endif()

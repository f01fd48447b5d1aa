# Build helpers shared by every room: warnings, sanitizers, libraries, tests, fuzzers.

if(VX_SANITIZE STREQUAL "asan-ubsan")
	set(VX_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
	add_compile_definitions(VX_DEBUG_POISON=1 VX_RING_SANITIZE=1)
elseif(VX_SANITIZE STREQUAL "tsan")
	set(VX_SAN_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT VX_SANITIZE STREQUAL "none")
	message(FATAL_ERROR "VX_SANITIZE must be none, asan-ubsan or tsan (got ${VX_SANITIZE})")
endif()
if(VX_SAN_FLAGS)
	add_compile_options(${VX_SAN_FLAGS})
	add_link_options(${VX_SAN_FLAGS})
endif()

# In a fuzz build every library is instrumented for coverage, or libFuzzer would see only the
# edges of the target file itself and fuzz blind.
if(VX_FUZZ)
	if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
		message(FATAL_ERROR "VX_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
	endif()
	add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Sanitizer and fuzz builds use libc malloc so the sanitizers see every allocation.
if(VX_SAN_FLAGS OR VX_FUZZ)
	set(VX_ALLOC_JEMALLOC OFF)
else()
	set(VX_ALLOC_JEMALLOC ON)
endif()

if(CMAKE_BUILD_TYPE STREQUAL "Debug" OR VX_SAN_FLAGS)
	add_compile_definitions(VX_DEBUG=1)
endif()

set(VX_WARNINGS
	-Wall -Wextra -Wpedantic -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
	-Wshadow -Wvla -Wwrite-strings -Wpointer-arith -Wformat=2 -Wundef -Wcast-align
	-Wnull-dereference -Wimplicit-fallthrough -Wdeclaration-after-statement -fno-common)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
	list(APPEND VX_WARNINGS -Wduplicated-cond -Wlogical-op)
endif()
if(VX_WERROR)
	list(APPEND VX_WARNINGS -Werror)
endif()

set_property(GLOBAL PROPERTY VX_PUBLIC_HEADERS "")

# vx_add_library(NAME SOURCES src... [DEPS target...] [CONVERSION])
# Makes static library vx_NAME with include/ public and src/ private, and records its public
# headers for the stand-alone header check.
function(vx_add_library name)
	cmake_parse_arguments(A "CONVERSION" "" "SOURCES;DEPS" ${ARGN})
	add_library(vx_${name} STATIC ${A_SOURCES})
	target_include_directories(vx_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
		PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
	target_compile_options(vx_${name} PRIVATE ${VX_WARNINGS})
	if(A_CONVERSION)
		target_compile_options(vx_${name} PRIVATE -Wconversion)
	endif()
	if(A_DEPS)
		target_link_libraries(vx_${name} PUBLIC ${A_DEPS})
	endif()
	file(GLOB hdrs ${CMAKE_CURRENT_SOURCE_DIR}/include/*.h)
	foreach(h ${hdrs})
		set_property(GLOBAL APPEND PROPERTY VX_PUBLIC_HEADERS "${h}|vx_${name}")
	endforeach()
	# Every global symbol of a vx library starts with vx_ (STYLE rule 3).
	add_test(NAME symbols_vx_${name}
		COMMAND ${CMAKE_SOURCE_DIR}/scripts/check-symbols $<TARGET_FILE:vx_${name}>)
	set_tests_properties(symbols_vx_${name} PROPERTIES LABELS lint)
endfunction()

# vx_add_executable(NAME SOURCES src... LIBS lib...)
function(vx_add_executable name)
	cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
	add_executable(${name} ${A_SOURCES})
	target_compile_options(${name} PRIVATE ${VX_WARNINGS})
	target_link_libraries(${name} PRIVATE ${A_LIBS})
endfunction()

# vx_add_test(NAME SOURCES src... LIBS lib... [LABEL unit|integration] [TIMEOUT s])
# A cmocka (or plain) test program run by ctest; exit code 77 means skipped.
function(vx_add_test name)
	cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
	if(NOT A_LABEL)
		set(A_LABEL unit)
	endif()
	if(NOT A_TIMEOUT)
		set(A_TIMEOUT 120)
	endif()
	add_executable(${name} ${A_SOURCES})
	target_compile_options(${name} PRIVATE ${VX_WARNINGS})
	target_link_libraries(${name} PRIVATE ${A_LIBS} PkgConfig::CMOCKA)
	target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/include)
	add_test(NAME ${name} COMMAND ${name})
	set_tests_properties(${name} PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
		SKIP_RETURN_CODE 77
		ENVIRONMENT "VX_SOURCE_DIR=${CMAKE_SOURCE_DIR};VX_BINARY_DIR=${CMAKE_BINARY_DIR}")
endfunction()

# vx_add_fuzz(NAME SOURCE file.c LIBS lib...)
# With VX_FUZZ: a libFuzzer binary fuzz_NAME. Always: a replay binary replay_NAME that ctest
# runs over tests/fuzz/corpus/NAME/, so every build replays every corpus.
function(vx_add_fuzz name)
	cmake_parse_arguments(A "" "SOURCE" "LIBS" ${ARGN})
	set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
	add_executable(replay_${name} ${A_SOURCE} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
	target_compile_options(replay_${name} PRIVATE ${VX_WARNINGS})
	target_link_libraries(replay_${name} PRIVATE ${A_LIBS})
	add_test(NAME fuzz_replay_${name} COMMAND replay_${name} ${corpus})
	set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz TIMEOUT 300)
	if(VX_FUZZ)
		add_executable(fuzz_${name} ${A_SOURCE})
		target_compile_options(fuzz_${name} PRIVATE ${VX_WARNINGS} -fsanitize=fuzzer)
		target_link_libraries(fuzz_${name} PRIVATE ${A_LIBS})
		target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
	endif()
endfunction()

# One generated translation unit per public header: each must compile on its own (rule 6).
function(vx_add_header_checks)
	get_property(entries GLOBAL PROPERTY VX_PUBLIC_HEADERS)
	set(srcs "")
	set(libs "")
	foreach(e ${entries})
		string(REPLACE "|" ";" parts "${e}")
		list(GET parts 0 h)
		list(GET parts 1 lib)
		get_filename_component(base ${h} NAME_WE)
		set(tu ${CMAKE_BINARY_DIR}/header-check/${base}.c)
		file(WRITE ${tu}.tmp "#include \"${h}\"\nint vx_header_check_${base}(void);\nint vx_header_check_${base}(void) { return 0; }\n")
		configure_file(${tu}.tmp ${tu} COPYONLY)
		list(APPEND srcs ${tu})
		list(APPEND libs ${lib})
	endforeach()
	if(srcs)
		list(REMOVE_DUPLICATES libs)
		add_library(vx_header_check OBJECT ${srcs})
		target_compile_options(vx_header_check PRIVATE ${VX_WARNINGS})
		target_link_libraries(vx_header_check PRIVATE ${libs})
	endif()
endfunction()

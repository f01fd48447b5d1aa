vx_add_test(test_common SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_common.c LIBS vx_common)

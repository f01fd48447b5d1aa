# dataplane tests: unit tests of the ring and loop, integration tests over loopback.
if(TARGET vx_dataplane)
	vx_add_test(test_dataplane_loop
		SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dataplane_loop.c
		LIBS vx_dataplane LABEL unit TIMEOUT 60)
endif()

# Installing and running vx for real (issue 20): the install layout, the Debian packages, the
# units, the container image and the Kubernetes manifests (docs/install.md, docs/service.md,
# docs/kubernetes.md). deploy_deb builds the packages into build/deb (a release build of its own:
# about 2 minutes, labelled long) for deploy_image and deploy_docs.
if(TARGET vx)
	add_test(NAME deploy_install
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/deploy_install.sh ${CMAKE_BINARY_DIR})
	set_tests_properties(deploy_install PROPERTIES LABELS integration TIMEOUT 120)
	add_test(NAME deploy_notify
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/deploy_notify.sh $<TARGET_FILE:vx>)
	set_tests_properties(deploy_notify PROPERTIES LABELS integration TIMEOUT 120
		SKIP_RETURN_CODE 77)
	add_test(NAME deploy_deb
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/deploy_deb.sh ${CMAKE_SOURCE_DIR}
			${CMAKE_SOURCE_DIR}/build/deb)
	set_tests_properties(deploy_deb PROPERTIES LABELS "integration;long" TIMEOUT 900
		FIXTURES_SETUP vx_deb RESOURCE_LOCK vx_deb_build)
	add_test(NAME deploy_image
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/deploy_image.sh ${CMAKE_SOURCE_DIR}
			$<TARGET_FILE:vx> ${CMAKE_SOURCE_DIR}/build/deb/packages)
	set_tests_properties(deploy_image PROPERTIES LABELS integration TIMEOUT 300
		FIXTURES_REQUIRED vx_deb)
	# the docs' commands build-deb again (incremental: deploy_deb built build/deb)
	add_test(NAME deploy_docs
		COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/deploy_docs.sh ${CMAKE_SOURCE_DIR})
	set_tests_properties(deploy_docs PROPERTIES LABELS integration TIMEOUT 600
		FIXTURES_REQUIRED vx_deb RESOURCE_LOCK vx_deb_build)
endif()
add_test(NAME deploy_k8s COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/deploy_k8s.sh
	${CMAKE_SOURCE_DIR})
set_tests_properties(deploy_k8s PROPERTIES LABELS integration TIMEOUT 120)

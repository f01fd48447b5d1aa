# install.cmake: `cmake --install` layout and the Debian packages (CPack DEB), docs/install.md.
#   bin/vx, bin/vx-bench                          component vx
#   share/man/man1/vx*.1.gz                       generated from the programs' --help texts
#   share/bash-completion/completions/vx,         (scripts/gen-cli-docs), so they cannot drift
#   share/zsh/vendor-completions/_vx                from the options
#   <sysconfdir>/vx/*.yaml, <sysconfdir>/default/vx-scheduler   example configs (conffiles)
#   lib/systemd/system/vx-{serve,scheduler}.service, lib/sysusers.d/vx.conf
#   share/vx/{grafana,prometheus,kubernetes}/     dashboards, alert rules, manifests
#   share/doc/vx/                                 copyright, changelog
#   include/vx/, lib/libvx.a, lib/pkgconfig/libvx.pc   component libvx (api/CMakeLists.txt)
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for a package: <sysconfdir> is then /etc.
include(GNUInstallDirs)

set(vx_deploy ${CMAKE_SOURCE_DIR}/deploy)
set(vx_gen ${CMAKE_BINARY_DIR}/deploy)
# the configs' place: /etc under the /usr prefix (absolute, so a package has them there), else
# relative to the prefix (so `cmake --install --prefix DIR` stays inside DIR)
if(CMAKE_INSTALL_FULL_SYSCONFDIR STREQUAL "/etc")
	set(vx_etc /etc)
else()
	set(vx_etc ${CMAKE_INSTALL_SYSCONFDIR})
endif()

install(TARGETS vx vx-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT vx)

# man pages and completions, from the binaries just built
file(GLOB vx_cli_cmds_for_docs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cli/src/cmd_*.c)
set(vx_man_pages vx vx-bench)
foreach(f ${vx_cli_cmds_for_docs})
	get_filename_component(n ${f} NAME_WE)
	string(REGEX REPLACE "^cmd_" "" n ${n})
	string(REPLACE "_" "-" n ${n})
	list(APPEND vx_man_pages vx-${n})
endforeach()
set(vx_docs_out ${vx_gen}/completions/vx ${vx_gen}/completions/_vx)
foreach(p ${vx_man_pages})
	list(APPEND vx_docs_out ${vx_gen}/man/${p}.1.gz)
endforeach()
add_custom_command(OUTPUT ${vx_docs_out}
	COMMAND ${CMAKE_SOURCE_DIR}/scripts/gen-cli-docs $<TARGET_FILE:vx> $<TARGET_FILE:vx-bench>
		${PROJECT_VERSION} ${vx_gen}
	DEPENDS vx vx-bench ${CMAKE_SOURCE_DIR}/scripts/gen-cli-docs
	COMMENT "man pages and completions from vx --help" VERBATIM)
add_custom_target(vx_cli_docs ALL DEPENDS ${vx_docs_out})
install(DIRECTORY ${vx_gen}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT vx
	FILES_MATCHING PATTERN "*.1.gz")
install(FILES ${vx_gen}/completions/vx DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
	COMPONENT vx)
install(FILES ${vx_gen}/completions/_vx DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions
	COMPONENT vx)

# example configs and the units
set(vx_conffiles)
foreach(c serve seed mirror)
	install(FILES ${vx_deploy}/config/${c}.yaml DESTINATION ${vx_etc}/vx
		COMPONENT vx)
	string(APPEND vx_conffiles "${CMAKE_INSTALL_FULL_SYSCONFDIR}/vx/${c}.yaml\n")
endforeach()
install(FILES ${vx_deploy}/systemd/vx-scheduler.default DESTINATION ${vx_etc}/default RENAME vx-scheduler COMPONENT vx)
string(APPEND vx_conffiles "${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/vx-scheduler\n")
# The units name the paths of the prefix given at install time (`--prefix`), not at configure
# time, so they are written by the install step itself.
if(IS_ABSOLUTE ${vx_etc})
	set(vx_unit_etc ${vx_etc})
else()
	set(vx_unit_etc "\${CMAKE_INSTALL_PREFIX}/${vx_etc}")
endif()
foreach(u vx-serve vx-scheduler)
	install(CODE "
		set(VX_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
		set(VX_SYSCONFDIR \"${vx_unit_etc}\")
		set(out \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/${u}.service\")
		message(STATUS \"Installing: \${out}\")
		configure_file(${vx_deploy}/systemd/${u}.service.in \${out} @ONLY)
		list(APPEND CMAKE_INSTALL_MANIFEST_FILES \${out})" COMPONENT vx)
endforeach()
install(FILES ${vx_deploy}/systemd/vx.sysusers DESTINATION lib/sysusers.d RENAME vx.conf
	COMPONENT vx)
install(DIRECTORY ${vx_deploy}/grafana ${vx_deploy}/prometheus ${vx_deploy}/kubernetes
	DESTINATION ${CMAKE_INSTALL_DATADIR}/vx COMPONENT vx)

# Debian's doc files, in each package
set(VX_DEB_MAINTAINER "vx developers <vx@example.org>" CACHE STRING "Maintainer of the .deb")
string(TIMESTAMP vx_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${vx_deploy}/debian/changelog.in ${vx_gen}/debian/changelog @ONLY)
add_custom_command(OUTPUT ${vx_gen}/debian/changelog.gz
	COMMAND gzip -9n -c ${vx_gen}/debian/changelog > ${vx_gen}/debian/changelog.gz
	DEPENDS ${vx_gen}/debian/changelog)
add_custom_target(vx_deb_changelog ALL DEPENDS ${vx_gen}/debian/changelog.gz)
foreach(pair "vx;vx" "libvx;libvx-dev")
	list(GET pair 0 comp)
	list(GET pair 1 pkg)
	install(FILES ${vx_deploy}/debian/copyright ${vx_gen}/debian/changelog.gz
		DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg} COMPONENT ${comp})
endforeach()

# CPack: `cpack -G DEB` in a build configured with CMAKE_INSTALL_PREFIX=/usr gives
# vx_<version>_<arch>.deb and libvx-dev_<version>_<arch>.deb (tests/deploy.cmake).
file(WRITE ${vx_gen}/debian/conffiles "${vx_conffiles}")
foreach(s postinst postrm prerm)
	file(COPY ${vx_deploy}/debian/${s} DESTINATION ${vx_gen}/debian
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
		WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vx)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${VX_DEB_MAINTAINER}")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL vx libvx)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/vx")
set(CPACK_DEBIAN_VX_PACKAGE_NAME vx)
set(CPACK_DEBIAN_VX_PACKAGE_SECTION net)
set(CPACK_DEBIAN_VX_PACKAGE_CONTROL_EXTRA
	"${vx_gen}/debian/postinst;${vx_gen}/debian/postrm;${vx_gen}/debian/prerm;${vx_gen}/debian/conffiles")
set(CPACK_DEBIAN_VX_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_COMPONENT_VX_DESCRIPTION "peer-to-peer distribution of large files and container images
vx fetches each file from its origin once and the hosts of a cluster get
the pieces from each other (Dragonfly's Vortex protocol, io_uring). This
package has vx (daemon, scheduler, client), vx-bench, the systemd units
vx-serve.service and vx-scheduler.service, example configs in /etc/vx
and Grafana dashboards.")
set(CPACK_DEBIAN_LIBVX_PACKAGE_NAME libvx-dev)
set(CPACK_DEBIAN_LIBVX_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_LIBVX_PACKAGE_DEPENDS "libcbor-dev, libssl-dev, zlib1g-dev")
set(CPACK_COMPONENT_LIBVX_DESCRIPTION "client library of the vx peer daemon (development files)
libvx asks a local vx daemon over its unix socket for peer-to-peer
downloads. This package has the static library, its headers and libvx.pc
for pkg-config.")
include(CPack)

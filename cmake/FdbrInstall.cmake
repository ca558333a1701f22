# SPDX-License-Identifier: MIT
# Install rules whose outcome depends on the moment of installation, not on
# the moment of configuration.

set(FDBR_INSTALL_SCRIPTS ${CMAKE_CURRENT_LIST_DIR})

# Installs TEMPLATE (NAME.in) as NAME into DESTINATION, with every
# directory it names computed from the prefix actually installed to.
# `cmake --install build --prefix /usr`, the usual packaging form, changes
# the prefix after configuration: a file configured once, at configure
# time, would still name the configured prefix (a .pc saying /usr/local, a
# unit starting /usr/local/sbin/fdbrokerd).  Everything else is substituted
# now; the prefix-dependent variables are left as @VAR@ for install time.
function(fdbr_install_configured template destination)
  get_filename_component(name "${template}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  foreach(v CMAKE_INSTALL_PREFIX CMAKE_INSTALL_FULL_SBINDIR FDBR_DOC_DIR)
    set(${v} "@${v}@")
  endforeach()
  set(stage "${CMAKE_CURRENT_BINARY_DIR}/install/${name}.in")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/install/${name}")
  configure_file("${template}" "${stage}" @ONLY)
  install(CODE "set(FDBR_IN [==[${stage}]==])
set(FDBR_OUT [==[${out}]==])
set(FDBR_SBINDIR [==[${CMAKE_INSTALL_SBINDIR}]==])
set(FDBR_DOCDIR [==[${CMAKE_INSTALL_DOCDIR}]==])
include([==[${FDBR_INSTALL_SCRIPTS}/fdbr-install-configure.cmake]==])")
  install(FILES "${out}" DESTINATION "${destination}")
endfunction()

# Installs SOURCE as DIR/NAME only where there is none yet: an operator's
# edited configuration survives every re-install.  When theirs differs from
# the shipped one, the shipped one goes next to it as NAME.default.
function(fdbr_install_config source dir name)
  install(CODE "set(FDBR_CONFIG_SOURCE [==[${source}]==])
set(FDBR_CONFIG_DIR [==[${dir}]==])
set(FDBR_CONFIG_NAME [==[${name}]==])
include([==[${FDBR_INSTALL_SCRIPTS}/fdbr-install-config.cmake]==])")
endfunction()

# SPDX-License-Identifier: MIT
# Run by `cmake --install`: writes FDBR_OUT from FDBR_IN with the
# directories of this installation (see fdbr_install_configured()).

string(REGEX REPLACE "(.)/+$" "\\1" fdbr_prefix "${CMAKE_INSTALL_PREFIX}")
macro(fdbr_full var rel)
  if(IS_ABSOLUTE "${rel}")
    set(${var} "${rel}")
  else()
    set(${var} "${fdbr_prefix}/${rel}")
  endif()
endmacro()

set(CMAKE_INSTALL_PREFIX "${fdbr_prefix}")
fdbr_full(CMAKE_INSTALL_FULL_SBINDIR "${FDBR_SBINDIR}")
fdbr_full(FDBR_DOC_DIR "${FDBR_DOCDIR}")
configure_file("${FDBR_IN}" "${FDBR_OUT}" @ONLY)

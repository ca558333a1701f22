# SPDX-License-Identifier: MIT
# Run by `cmake --install`: installs a configuration file only where none
# is (see fdbr_install_config()).

set(fdbr_dir "${FDBR_CONFIG_DIR}")
if(NOT IS_ABSOLUTE "${fdbr_dir}")
  set(fdbr_dir "${CMAKE_INSTALL_PREFIX}/${fdbr_dir}")
endif()
set(fdbr_target "$ENV{DESTDIR}${fdbr_dir}/${FDBR_CONFIG_NAME}")

if(NOT EXISTS "${fdbr_target}" AND NOT IS_SYMLINK "${fdbr_target}")
  file(INSTALL DESTINATION "${fdbr_dir}" TYPE FILE RENAME "${FDBR_CONFIG_NAME}" FILES "${FDBR_CONFIG_SOURCE}")
else()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${fdbr_target}" "${FDBR_CONFIG_SOURCE}"
    RESULT_VARIABLE fdbr_differs OUTPUT_QUIET ERROR_QUIET)
  if(fdbr_differs)
    message(STATUS "Kept: ${fdbr_target} (yours; the shipped one is ${FDBR_CONFIG_NAME}.default next to it)")
    file(INSTALL DESTINATION "${fdbr_dir}" TYPE FILE RENAME "${FDBR_CONFIG_NAME}.default"
      FILES "${FDBR_CONFIG_SOURCE}")
  else()
    message(STATUS "Up-to-date: ${fdbr_target}")
  endif()
endif()

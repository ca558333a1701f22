# libfdbroker and the fdbroker command, against a fake broker run by the
# tests themselves.  flags.c and pending.c are compiled in as well: their
# functions are hidden in the library, and deserve tests of their own.
fdbr_test(test-client
  ${CMAKE_CURRENT_LIST_DIR}/test-client.c
  ${PROJECT_SOURCE_DIR}/client/flags.c
  ${PROJECT_SOURCE_DIR}/client/pending.c)
target_include_directories(test-client PRIVATE ${PROJECT_SOURCE_DIR}/client)
target_link_libraries(test-client PRIVATE libfdbroker PkgConfig::LIBEVENT ${CMAKE_DL_LIBS})
target_compile_definitions(test-client PRIVATE
  FDBR_TEST_LIBRARY="$<TARGET_FILE:libfdbroker>"
  FDBR_TEST_CLI="$<TARGET_FILE:fdbroker-cli>"
  FDBR_TEST_VERSION="${PROJECT_VERSION}")
add_dependencies(test-client fdbroker-cli)

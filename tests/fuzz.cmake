# Fuzz harnesses (tests/fuzz).  Each harness is built twice:
#  - fuzz-regress-NAME, in every build, replays the seed corpus and the
#    regression inputs kept in the tree: a CTest test;
#  - with FDBR_FUZZ, fuzz-NAME, a libFuzzer program (tools/fuzz.sh runs them).

set(fdbr_fuzz_dir ${CMAKE_CURRENT_LIST_DIR}/fuzz)
set(fdbr_fuzz_harnesses request policy match)
set(fdbr_fuzz_policy_extra ${fdbr_fuzz_dir}/fuzz-common.c)
set(fdbr_fuzz_match_extra ${fdbr_fuzz_dir}/fuzz-common.c)

foreach(h IN LISTS fdbr_fuzz_harnesses)
  add_executable(fuzz-regress-${h} ${fdbr_fuzz_dir}/fuzz-${h}.c ${fdbr_fuzz_${h}_extra}
    ${fdbr_fuzz_dir}/standalone.c)
  target_include_directories(fuzz-regress-${h} PRIVATE ${fdbr_fuzz_dir})
  target_link_libraries(fuzz-regress-${h} PRIVATE fdbr-policy fdbr-proto fdbr-build)
  add_test(NAME fuzz-regress-${h}
    COMMAND fuzz-regress-${h} ${fdbr_fuzz_dir}/corpus/${h} ${fdbr_fuzz_dir}/regress/${h})
  set_tests_properties(fuzz-regress-${h} PROPERTIES TIMEOUT 300)
endforeach()

if(FDBR_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "FDBR_FUZZ needs clang for libFuzzer (CC=clang), not ${CMAKE_C_COMPILER_ID}")
  endif()

  # The code under test is compiled again into every fuzzer rather than
  # linked from its libraries: libFuzzer steers by the coverage
  # instrumentation of exactly that code, whatever flags the rest of the
  # build uses.  The source lists come from the libraries themselves, so a
  # file added there is fuzzed too.
  set(fdbr_fuzz_sources)
  foreach(lib fdbr-proto fdbr-policy)
    get_target_property(srcs ${lib} SOURCES)
    get_target_property(dir ${lib} SOURCE_DIR)
    foreach(s IN LISTS srcs)
      if(NOT IS_ABSOLUTE ${s})
        set(s ${dir}/${s})
      endif()
      list(APPEND fdbr_fuzz_sources ${s})
    endforeach()
  endforeach()

  set(fdbr_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
  foreach(h IN LISTS fdbr_fuzz_harnesses)
    add_executable(fuzz-${h} ${fdbr_fuzz_dir}/fuzz-${h}.c ${fdbr_fuzz_${h}_extra} ${fdbr_fuzz_sources})
    target_include_directories(fuzz-${h} PRIVATE ${fdbr_fuzz_dir}
      $<TARGET_PROPERTY:fdbr-proto,INTERFACE_INCLUDE_DIRECTORIES>
      $<TARGET_PROPERTY:fdbr-policy,INTERFACE_INCLUDE_DIRECTORIES>
      $<TARGET_PROPERTY:fdbr-util,INTERFACE_INCLUDE_DIRECTORIES>)
    target_link_libraries(fuzz-${h} PRIVATE fdbr-warnings)
    target_compile_options(fuzz-${h} PRIVATE ${fdbr_fuzz_flags})
    target_link_options(fuzz-${h} PRIVATE ${fdbr_fuzz_flags})
    set_target_properties(fuzz-${h} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  endforeach()
  add_custom_target(fuzzers)
  foreach(h IN LISTS fdbr_fuzz_harnesses)
    add_dependencies(fuzzers fuzz-${h})
  endforeach()
endif()

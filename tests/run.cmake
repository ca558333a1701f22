# fdbroker run against a real daemon, with CMDs of the test's own: a helper
# linked dynamically and, where the toolchain can, statically.  The helpers
# are built without sanitizers: they are CMD, not code under test, and a
# static executable cannot carry the sanitizer runtimes.
include(CheckCSourceCompiles)

function(fdbr_run_helper name)
  add_executable(${name} ${CMAKE_CURRENT_LIST_DIR}/run-helper.c)
  target_link_libraries(${name} PRIVATE Threads::Threads fdbr-warnings)
  target_link_options(${name} PRIVATE ${ARGN})
endfunction()

fdbr_run_helper(run-helper)

set(CMAKE_REQUIRED_LINK_OPTIONS -static -pthread)
check_c_source_compiles("
#include <pthread.h>
static void *f(void *p) { return p; }
int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }"
  FDBR_HAVE_STATIC)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(FDBR_HAVE_STATIC)
  fdbr_run_helper(run-helper-static -static)
  set(fdbr_run_static "$<TARGET_FILE:run-helper-static>")
else()
  set(fdbr_run_static "")
endif()

fdbr_test(test-run ${CMAKE_CURRENT_LIST_DIR}/test-run.c)
target_link_libraries(test-run PRIVATE fdbr-test-harness)
target_compile_definitions(test-run PRIVATE
  RUN_HELPER="$<TARGET_FILE:run-helper>"
  RUN_HELPER_STATIC="${fdbr_run_static}"
  SANDBOX_SH="${PROJECT_SOURCE_DIR}/docs/examples/bubblewrap/sandbox.sh")
add_dependencies(test-run run-helper)
if(FDBR_HAVE_STATIC)
  add_dependencies(test-run run-helper-static)
endif()

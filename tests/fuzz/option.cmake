# Off by default: the libFuzzer programs need clang.  The regression tests
# of tests/fuzz.cmake are built either way.
option(FDBR_FUZZ "Build the libFuzzer harnesses of tests/fuzz (needs clang)" OFF)

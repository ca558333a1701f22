# policy engine tests
fdbr_test(test-policy ${CMAKE_CURRENT_LIST_DIR}/test-policy.c)
target_link_libraries(test-policy PRIVATE fdbr-policy)

# Not a test: times decisions against small and large policies.
add_executable(bench-policy ${CMAKE_CURRENT_LIST_DIR}/bench-policy.c)
target_link_libraries(bench-policy PRIVATE fdbr-policy fdbr-build)

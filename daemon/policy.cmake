add_library(fdbr-policy STATIC
  ${CMAKE_CURRENT_LIST_DIR}/policy-parse.c
  ${CMAKE_CURRENT_LIST_DIR}/policy-syntax.c
  ${CMAKE_CURRENT_LIST_DIR}/policy-names.c
  ${CMAKE_CURRENT_LIST_DIR}/policy-index.c
  ${CMAKE_CURRENT_LIST_DIR}/policy-match.c
  ${CMAKE_CURRENT_LIST_DIR}/policy-grants.c
  ${CMAKE_CURRENT_LIST_DIR}/policy-expand.c)
target_include_directories(fdbr-policy PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(fdbr-policy PUBLIC fdbr-proto PRIVATE fdbr-build)

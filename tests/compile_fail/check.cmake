# Runs the compiler on SRC with -fsyntax-only; passes only if it fails AND its
# output contains the text after `// expect-error:` in SRC.
file(STRINGS ${SRC} expect_line REGEX "// expect-error: ")
if(NOT expect_line)
  message(FATAL_ERROR "${SRC}: no '// expect-error:' line")
endif()
string(REGEX REPLACE ".*// expect-error: " "" expect "${expect_line}")
set(inc_flags)
foreach(d ${INCLUDES})
  list(APPEND inc_flags -I${d})
endforeach()
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -fopenmp ${inc_flags} ${SRC}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SRC} compiled, but it must fail with: ${expect}")
endif()
string(FIND "${out}${err}" "${expect}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "${SRC} failed to compile, but without the expected message '${expect}':\n${err}")
endif()
# One mistake, one error: count the static_assert failures.
string(REGEX MATCHALL "static assertion failed" hits "${err}")
list(LENGTH hits n)
message(STATUS "${SRC}: failed as expected (${n} static assertion(s))")

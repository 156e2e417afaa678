# One example trainer under mpirun -np NP on tiny data: it must exit 0, print its
# per-epoch line once (rank 0 alone prints), and leave the files rank 0 writes.
#   -DMPIEXEC= -DNP= -DPROGRAM= "-DARGS=a|b|c" -DOUT= "-DFILES=f1|f2" "-DONCE=text"
file(REMOVE_RECURSE "${OUT}")
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${MPIEXEC} -n ${NP} ${PROGRAM} ${args} --out ${OUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 240)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exit ${rc}:\n${out}\n${err}")
endif()
string(REPLACE "|" ";" files "${FILES}")
foreach(f ${files})
  if(NOT EXISTS "${OUT}/${f}")
    message(FATAL_ERROR "${OUT}/${f} was not written:\n${out}")
  endif()
endforeach()
string(REGEX MATCHALL "${ONCE}" hits "${out}")
list(LENGTH hits n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "'${ONCE}' printed ${n} times, not once (every rank printing?):\n${out}")
endif()
message(STATUS "ok: ${PROGRAM} on ${NP} ranks")

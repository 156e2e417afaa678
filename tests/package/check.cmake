# Installs zoo into a scratch prefix, then configures, builds and runs an outside
# project that uses find_package(zoo CONFIG REQUIRED), and another that uses
# add_subdirectory.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/zoo -G ${GENERATOR}
    -DZOO_BUILD_TESTS=OFF -DZOO_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX=${prefix})
run(${CMAKE_COMMAND} --install ${WORK_DIR}/zoo)
foreach(mode find_package add_subdirectory)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/app -B ${WORK_DIR}/app_${mode} -G ${GENERATOR}
      -DCMAKE_PREFIX_PATH=${prefix} -DMODE=${mode} -DZOO_SOURCE=${SOURCE_DIR}
      -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/app_${mode})
  run(${WORK_DIR}/app_${mode}/app)
endforeach()

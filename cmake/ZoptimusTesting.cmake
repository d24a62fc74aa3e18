# zoptimus_add_test(NAME SOURCES ... RANKS 1 2 4 [LABELS ...] [TIMEOUT s])
# Builds one GoogleTest executable and registers it once per rank count as <NAME>_np_<n>,
# launched through MPIEXEC with the flags set once in MPIEXEC_PREFLAGS. PROCESSORS is set
# so that `ctest -j` schedules by cores.
find_package(GTest REQUIRED)

# GoogleTest on every rank with one agreed exit code; used by this main and the GPU tests' main.
add_library(zoptimus_test_run STATIC ${CMAKE_CURRENT_LIST_DIR}/../tests/support/gtest_mpi_run.cpp)
target_link_libraries(zoptimus_test_run PUBLIC MPI::MPI_CXX GTest::gtest)
target_include_directories(zoptimus_test_run PUBLIC ${CMAKE_CURRENT_LIST_DIR}/../tests)
add_library(zoptimus_test_main STATIC ${CMAKE_CURRENT_LIST_DIR}/../tests/support/gtest_mpi_main.cpp)
target_link_libraries(zoptimus_test_main PUBLIC zoptimus::zoptimus zoptimus_test_run)

function(zoptimus_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;RANKS;LABELS" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 1)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE zoptimus_test_main)
  foreach(np IN LISTS ARG_RANKS)
    if(np GREATER ZOPTIMUS_TEST_MAX_RANKS)
      continue()
    endif()
    add_test(NAME ${name}_np_${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${MPIEXEC_PREFLAGS}
                     $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${name}_np_${np} PROPERTIES PROCESSORS ${np} TIMEOUT ${ARG_TIMEOUT}
                                                     LABELS "mpi;${ARG_LABELS}")
  endforeach()
endfunction()

// Running GoogleTest on every MPI rank: rank 0 prints the usual report, the other ranks only
// their failures (prefixed with the rank), and every rank returns the worst result of all.
// Shared by the test mains (gtest_mpi_main.cpp, gpu/gpu_test_main.cpp).
#pragma once

namespace zoptimus::test_support {

// Call after MPI is initialised. Returns the exit code agreed over MPI_COMM_WORLD.
int run_all_tests_on_every_rank(int& argc, char** argv, int rank);

}  // namespace zoptimus::test_support

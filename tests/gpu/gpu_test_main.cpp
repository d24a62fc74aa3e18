// GoogleTest main for the MPI GPU tests: when no GPU is visible it prints the skip line
// (gpu-test: SKIPPED: <reason>) and exits 0 before Kokkos, whose CUDA backend cannot start
// without a device; otherwise it runs the tests like tests/support/gtest_mpi_main.cpp (Runtime,
// BLAS attached, support/gtest_mpi_run.hpp).
#include <mpi.h>

#include <string>

#include "core/runtime.hpp"
#include "gpu/gpu_test_support.hpp"
#include "linalg/blas_handle.hpp"
#include "support/gtest_mpi_run.hpp"

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, missing = 0, any_missing = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string why = zoptimus::test_support::no_gpu_reason();
  missing = why.empty() ? 0 : 1;
  MPI_Allreduce(&missing, &any_missing, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_missing) {
    zoptimus::test_support::skip_line("no GPU visible" + (why.empty() ? "" : " (" + why + ")") +
                                      "; GPU tests not run");
    MPI_Finalize();
    return 0;
  }
  zoptimus::Runtime runtime(argc, argv);  // MPI is initialised: it starts Kokkos only
  zoptimus::attach_blas(runtime.device());
  // The Runtime finalises Kokkos and MPI after this returns.
  return zoptimus::test_support::run_all_tests_on_every_rank(argc, argv, rank);
}

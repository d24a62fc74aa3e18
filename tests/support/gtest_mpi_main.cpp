// GoogleTest main for MPI tests: starts the Runtime (MPI, Kokkos, DeviceContext) as the
// application does, runs the tests on every rank, reports failures from any rank, and agrees
// on one exit code.
#include "core/runtime.hpp"
#include "linalg/blas_handle.hpp"
#include "support/gtest_mpi_run.hpp"

int main(int argc, char** argv) {
  zoptimus::Runtime runtime(argc, argv);
  zoptimus::attach_blas(runtime.device());
  // The Runtime finalises Kokkos and MPI after this returns.
  return zoptimus::test_support::run_all_tests_on_every_rank(argc, argv, runtime.world_rank());
}

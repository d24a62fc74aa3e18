// GoogleTest main for the MPI GPU tests: when no GPU is visible it prints the skip line
// (gpu-test: SKIPPED: <reason>) and exits 0 before Kokkos, whose CUDA backend cannot start
// without a device; otherwise it runs the tests like tests/support/gtest_mpi_main.cpp (Runtime,
// BLAS attached, failures from any rank, one agreed exit code).
#include <mpi.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "core/runtime.hpp"
#include "gpu/gpu_test_support.hpp"
#include "linalg/blas_handle.hpp"

namespace {

// Ranks other than 0 print only their failures, prefixed with the rank.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                   r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

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
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  const int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && global != local) std::fprintf(stderr, "tests failed on another rank\n");
  return global;  // the Runtime finalises Kokkos and MPI
}

// GoogleTest main for MPI tests: starts the Runtime (MPI, Kokkos, DeviceContext) as the
// application does, runs the tests on every rank, reports failures from any rank, and agrees
// on one exit code.
#include <mpi.h>

#include <cstdio>

#include <gtest/gtest.h>
#include <Kokkos_Core.hpp>

#include "core/runtime.hpp"
#include "linalg/blas_handle.hpp"

namespace {

// On ranks other than 0, print only failures (prefixed with the rank) so output stays legible.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  zoptimus::Runtime runtime(argc, argv);
  zoptimus::attach_blas(runtime.device());
  const int rank = runtime.world_rank();
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && global != local) std::fprintf(stderr, "tests failed on another rank\n");
  return global;  // the Runtime finalises Kokkos and MPI
}

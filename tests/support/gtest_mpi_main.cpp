// GoogleTest main for MPI tests: initialises MPI then Kokkos, runs the tests on every rank,
// reports failures from any rank, and agrees on one exit code.
#include <mpi.h>

#include <cstdio>

#include <gtest/gtest.h>
#include <Kokkos_Core.hpp>

#include "core/log.hpp"
#include "linalg/blas_threads.hpp"

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
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  zoptimus::log::set_rank(rank);
  Kokkos::initialize(argc, argv);
  zoptimus::set_default_blas_threads();
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
  Kokkos::finalize();
  MPI_Finalize();
  return global;
}

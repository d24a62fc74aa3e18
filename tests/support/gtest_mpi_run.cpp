// GoogleTest on every rank, one agreed exit code (see gtest_mpi_run.hpp).
#include "support/gtest_mpi_run.hpp"

#include <mpi.h>

#include <cstdio>

#include <gtest/gtest.h>

namespace zoptimus::test_support {

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

int run_all_tests_on_every_rank(int& argc, char** argv, int rank) {
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
  return global;
}

}  // namespace zoptimus::test_support

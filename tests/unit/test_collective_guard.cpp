// run_collectively: a failure on some ranks becomes the same AgreedError on every rank,
// naming the first failing rank and how many failed; success passes values through.
#include <gtest/gtest.h>
#include <mpi.h>

#include "parallel/collective_guard.hpp"

namespace zoptimus {
namespace {

TEST(CollectiveGuard, SuccessReturnsTheValue) {
  EXPECT_EQ(run_collectively(MPI_COMM_WORLD, [] { return 42; }), 42);
}

TEST(CollectiveGuard, FailureOnOneRankReachesEveryRank) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int failing = size - 1;  // the last rank fails alone
  try {
    run_collectively(MPI_COMM_WORLD, [&] {
      if (rank == failing) fail("dataset shard {} is missing", rank);
    });
    ADD_FAILURE() << "no error on rank " << rank;
  } catch (const AgreedError& e) {
    EXPECT_EQ(std::string(e.what()), "dataset shard " + std::to_string(failing) + " is missing");
    EXPECT_EQ(e.first_failing_rank(), failing);
    EXPECT_EQ(e.failing_ranks(), 1);
    EXPECT_EQ(e.all_ranks_failed(), size == 1);
  }
}

TEST(CollectiveGuard, TheLowestFailingRankSpeaks) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    run_collectively(MPI_COMM_WORLD, [&] { fail("rank {} failed", rank); });
    ADD_FAILURE() << "no error";
  } catch (const AgreedError& e) {
    EXPECT_EQ(std::string(e.what()), "rank 0 failed");
    EXPECT_EQ(e.failing_ranks(), size);
    EXPECT_TRUE(e.all_ranks_failed());
  }
}

}  // namespace
}  // namespace zoptimus

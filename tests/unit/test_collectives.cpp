// Collectives and CommStats: every collective on every axis of every mesh that fits the
// world gives the MPI result and records exactly the logical bytes of comm_stats.hpp.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "parallel/collectives.hpp"
#include "support/collectives_checks.hpp"

namespace zoptimus {
namespace {

using test_support::check_axis;
using test_support::HostMemory;
using test_support::meshes_of;

TEST(CommStats, LogicalBytesFollowTheConvention) {
  EXPECT_EQ(logical_bytes(CommKind::Bcast, 100, 4, true).sent, 100);
  EXPECT_EQ(logical_bytes(CommKind::Bcast, 100, 4, true).recv, 0);
  EXPECT_EQ(logical_bytes(CommKind::Bcast, 100, 4, false).recv, 100);
  EXPECT_EQ(logical_bytes(CommKind::Reduce, 100, 4, true).recv, 100);
  EXPECT_EQ(logical_bytes(CommKind::Reduce, 100, 4, false).sent, 100);
  EXPECT_EQ(logical_bytes(CommKind::Allreduce, 100, 3).sent, 2 * 2 * 100 / 3);
  EXPECT_EQ(logical_bytes(CommKind::ReduceScatter, 120, 3).recv, 80);
  EXPECT_EQ(logical_bytes(CommKind::Allgather, 120, 4).sent, 90);
  EXPECT_EQ(logical_bytes(CommKind::Transpose, 64, 4, false).sent, 64);
  EXPECT_EQ(logical_bytes(CommKind::Transpose, 64, 4, true).recv, 0);
  for (int k = 0; k < kCommKindCount; ++k) {
    const CommBytes b = logical_bytes(static_cast<CommKind>(k), 100, 1, k % 2 == 0);
    EXPECT_EQ(b.sent + b.recv, 0) << "p == 1 moves nothing";
  }
}

TEST(CommStats, CountsTotalsResetAndNames) {
  CommStats s;
  s.record(Axis::Row, CommKind::Bcast, 10, 0, 0.5);
  s.record(Axis::Row, CommKind::Bcast, 0, 20, 0.25);
  s.record(Axis::Dp, CommKind::Allreduce, 3, 4, 0.0);
  s.add_seconds(Axis::Dp, CommKind::Allreduce, 1.0);
  EXPECT_EQ(s.at(Axis::Row, CommKind::Bcast).calls, 2);
  EXPECT_EQ(s.at(Axis::Row, CommKind::Bcast).bytes_recv, 20);
  EXPECT_DOUBLE_EQ(s.at(Axis::Row, CommKind::Bcast).seconds, 0.75);
  EXPECT_EQ(s.at(Axis::Dp, CommKind::Allreduce).calls, 1);
  EXPECT_EQ(s.total_sent(), 13);
  EXPECT_EQ(s.total_recv(), 24);
  EXPECT_EQ(s.total_calls(), 3);
  EXPECT_DOUBLE_EQ(s.total_seconds(), 1.75);
  EXPECT_EQ(CommStats::name(Axis::Row, CommKind::Bcast), "row_bcast");
  EXPECT_EQ(CommStats::name(Axis::Col, CommKind::ReduceScatter), "col_reduce_scatter");
  EXPECT_EQ(CommStats::name(Axis::Model, CommKind::Transpose), "model_transpose");
  EXPECT_EQ(CommStats::name(Axis::World, CommKind::Allreduce), "world_allreduce");
  s.reset();
  EXPECT_EQ(s.total_calls(), 0);
  EXPECT_EQ(s.total_sent() + s.total_recv(), 0);
}

TEST(Collectives, EveryCollectiveOnEveryAxisOfEveryMesh) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const MeshShape& shape : meshes_of(world)) {
    SCOPED_TRACE(shape.describe());
    Mesh mesh(MPI_COMM_WORLD, shape);
    CommStats stats;
    Collectives coll(mesh, stats);
    EXPECT_EQ(&coll.mesh(), &mesh);
    EXPECT_EQ(&coll.stats(), &stats);
    EXPECT_EQ(coll.size(Axis::Row), mesh.cols());
    EXPECT_EQ(coll.size(Axis::Col), mesh.rows());
    EXPECT_EQ(coll.size(Axis::Model), shape.model_size());
    EXPECT_EQ(coll.size(Axis::Dp), shape.dp);
    EXPECT_EQ(coll.size(Axis::World), world);
    EXPECT_EQ(coll.rank(Axis::Row), mesh.col());
    EXPECT_EQ(coll.rank(Axis::Col), mesh.row());
    EXPECT_EQ(coll.rank(Axis::World), mesh.world_rank());
    EXPECT_EQ(coll.backend(), CommBackend::Mpi);
    for (Axis axis : {Axis::Row, Axis::Col, Axis::Model, Axis::Dp, Axis::World}) {
      HostMemory mem;
      check_axis(coll, axis, mem);
    }
  }
}

// parallel.collectives: "mpi" is the backend every build has. A CPU build refuses "nccl" and
// "cuda-aware-mpi" with one message that names the value and what to use; a CUDA build takes
// "nccl" when built with NCCL and "cuda-aware-mpi" when the MPI library says it is CUDA-aware,
// and otherwise refuses them saying why. Never accepted silently.
void expect_refused(const char* name, const std::string& because) {
  try {
    select_comm_backend(name);
    ADD_FAILURE() << name << " was accepted, but this build or MPI cannot run it";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(fmt::format("parallel.collectives = \"{}\" is not available", name)),
              std::string::npos)
        << what;
    EXPECT_NE(what.find(because), std::string::npos) << what;
    EXPECT_NE(what.find("\"mpi\""), std::string::npos) << what;
  }
}

TEST(CommBackend, OnlyImplementedBackendsAreSelected) {
  EXPECT_EQ(select_comm_backend("mpi"), CommBackend::Mpi);
  if (!build_info::kHaveCuda) {
    for (const char* name : {"nccl", "cuda-aware-mpi"}) {
      expect_refused(name, "(built without CUDA/NCCL)");
      expect_refused(name, "use \"mpi\"");
    }
  } else {
    if (build_info::kHaveNccl)
      EXPECT_EQ(select_comm_backend("nccl"), CommBackend::Nccl);
    else
      expect_refused("nccl", "(built without NCCL");
    const std::string why = cuda_aware_mpi_missing();
    if (why.empty())
      EXPECT_EQ(select_comm_backend("cuda-aware-mpi"), CommBackend::CudaAwareMpi);
    else
      expect_refused("cuda-aware-mpi", why);
  }
  EXPECT_THROW(select_comm_backend("gloo"), Error);
}

// A swap with oneself is the backend's local copy: the data arrives, no bytes are counted.
TEST(Collectives, SelfExchangeCopiesLocally) {
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  CommStats stats;
  Collectives coll(mesh, stats);
  std::vector<float> send(5), recv(5, -1.0f);
  for (int i = 0; i < 5; ++i) send[i] = 0.5f * i;
  coll.transpose_exchange(Axis::Row, send.data(), recv.data(), send.size(), 0);
  EXPECT_EQ(recv, send);
  const CommCounter& c = stats.at(Axis::Row, CommKind::Transpose);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.bytes_sent + c.bytes_recv, 0);
}

TEST(Collectives, DestroyingAPendingRequestCompletesIt) {
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MeshShape shape;
  shape.mode = MeshMode::OneD;
  shape.t = world;
  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives coll(mesh, stats);
  std::vector<float> x(4, rank == 0 ? 3.0f : 0.0f);
  { Request req = coll.ibcast(Axis::Row, x.data(), x.size(), 0); }
  for (float v : x) EXPECT_EQ(v, 3.0f);
  EXPECT_EQ(stats.at(Axis::Row, CommKind::Bcast).calls, 1);
}

}  // namespace
}  // namespace zoptimus

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

namespace zoptimus {
namespace {

constexpr std::int64_t kF = sizeof(float);

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

// Every valid mesh of the world: 2D dp x q x q and 1D dp x t.
std::vector<MeshShape> meshes_of(int world) {
  std::vector<MeshShape> out;
  for (int q = 1; q * q <= world; ++q)
    if (world % (q * q) == 0) {
      MeshShape s;
      s.mode = MeshMode::TwoD;
      s.q = q;
      s.dp = world / (q * q);
      out.push_back(s);
    }
  for (int t = 2; t <= world; ++t)
    if (world % t == 0) {
      MeshShape s;
      s.mode = MeshMode::OneD;
      s.t = t;
      s.dp = world / t;
      out.push_back(s);
    }
  return out;
}

// A value that depends on (rank, index) and sums exactly in float.
float value(int rank, std::size_t i) {
  return float((rank * 13 + int(i) * 5) % 17) - 8.0f;
}

// Runs every collective on one axis and checks results and byte counts.
void check_axis(Collectives& coll, Axis axis) {
  CommStats& stats = coll.stats();
  const int p = coll.size(axis), me = coll.rank(axis);
  SCOPED_TRACE(CommStats::axis_name(axis) + " p=" + std::to_string(p) + " rank " +
               std::to_string(me));
  const std::size_t n = 6;
  const std::int64_t nb = n * kF;
  auto expect_bytes = [&](CommKind kind, std::int64_t sent, std::int64_t recv) {
    const CommCounter& c = stats.at(axis, kind);
    EXPECT_EQ(c.calls, 1) << CommStats::name(axis, kind);
    EXPECT_EQ(c.bytes_sent, p > 1 ? sent : 0) << CommStats::name(axis, kind);
    EXPECT_EQ(c.bytes_recv, p > 1 ? recv : 0) << CommStats::name(axis, kind);
    stats.reset();
  };
  stats.reset();
  for (int root = 0; root < p; ++root) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = me == root ? value(root, i) : -1.0f;
    coll.bcast(axis, x.data(), n, root);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], value(root, i));
    expect_bytes(CommKind::Bcast, me == root ? nb : 0, me == root ? 0 : nb);

    for (std::size_t i = 0; i < n; ++i) x[i] = me == root ? value(root, i) : -1.0f;
    Request req = coll.ibcast(axis, x.data(), n, root);
    EXPECT_TRUE(req.pending());
    Request moved = std::move(req);
    EXPECT_FALSE(req.pending());
    moved.wait();
    EXPECT_FALSE(moved.pending());
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], value(root, i));
    expect_bytes(CommKind::Bcast, me == root ? nb : 0, me == root ? 0 : nb);

    // Reduce, out of place and (on the root) in place.
    for (int in_place = 0; in_place < 2; ++in_place) {
      std::vector<float> send(n), recv(n, -1.0f);
      for (std::size_t i = 0; i < n; ++i) send[i] = value(me, i);
      float* out = (in_place && me == root) ? send.data() : recv.data();
      coll.reduce_sum(axis, send.data(), out, n, root);
      if (me == root)
        for (std::size_t i = 0; i < n; ++i) {
          float sum = 0.0f;
          for (int k = 0; k < p; ++k) sum += value(k, i);
          EXPECT_EQ(out[i], sum);
        }
      expect_bytes(CommKind::Reduce, me == root ? 0 : nb, me == root ? nb : 0);
    }
  }

  std::vector<float> f(n), g(n);
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i) f[i] = g[i] = value(me, i), d[i] = 0.5 * value(me, i);
  coll.allreduce_sum(axis, f.data(), n);
  coll.allreduce_max(axis, g.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    float sum = 0.0f, mx = -std::numeric_limits<float>::infinity();
    for (int k = 0; k < p; ++k) sum += value(k, i), mx = std::max(mx, value(k, i));
    EXPECT_EQ(f[i], sum);
    EXPECT_EQ(g[i], mx);
  }
  const CommCounter& ar = stats.at(axis, CommKind::Allreduce);
  EXPECT_EQ(ar.calls, 2);
  EXPECT_EQ(ar.bytes_sent, 2 * (2 * (p - 1) * nb / p));
  EXPECT_EQ(ar.bytes_recv, ar.bytes_sent);
  stats.reset();
  coll.allreduce_sum(axis, d.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (int k = 0; k < p; ++k) sum += 0.5 * value(k, i);
    EXPECT_EQ(d[i], sum);
  }
  const std::int64_t nd = n * sizeof(double);
  expect_bytes(CommKind::Allreduce, 2 * (p - 1) * nd / p, 2 * (p - 1) * nd / p);

  // 64-bit integer sums (the Sparse-MeZO counts): values past 2^32 must survive exactly.
  std::vector<std::int64_t> counts(n);
  const std::int64_t big = std::int64_t(1) << 40;
  for (std::size_t i = 0; i < n; ++i) counts[i] = big + me * 1000 + std::int64_t(i);
  coll.allreduce_sum(axis, counts.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t sum = 0;
    for (int k = 0; k < p; ++k) sum += big + k * 1000 + std::int64_t(i);
    EXPECT_EQ(counts[i], sum);
  }
  const std::int64_t ni = n * sizeof(std::int64_t);
  expect_bytes(CommKind::Allreduce, 2 * (p - 1) * ni / p, 2 * (p - 1) * ni / p);

  // Reduce-scatter: n elements per rank out of p*n in.
  std::vector<float> in(p * n), out(n, -1.0f);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = value(me, i);
  coll.reduce_scatter_sum(axis, in.data(), out.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    float sum = 0.0f;
    for (int k = 0; k < p; ++k) sum += value(k, me * n + i);
    EXPECT_EQ(out[i], sum);
  }
  expect_bytes(CommKind::ReduceScatter, (p - 1) * (p * nb) / p, (p - 1) * (p * nb) / p);

  // Allgather: n elements from each rank, p*n out, ordered by rank.
  std::vector<float> mine(n), all(p * n, -1.0f);
  for (std::size_t i = 0; i < n; ++i) mine[i] = value(me, i);
  coll.allgather(axis, mine.data(), all.data(), n);
  for (int k = 0; k < p; ++k)
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(all[k * n + i], value(k, i));
  expect_bytes(CommKind::Allgather, (p - 1) * (p * nb) / p, (p - 1) * (p * nb) / p);

  // Transpose: swap with the mirror rank (an involution, so sends and receives pair up).
  const int peer = p - 1 - me;
  std::vector<float> got(n, -1.0f);
  coll.transpose_exchange(axis, mine.data(), got.data(), n, peer);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(got[i], value(peer, i));
  expect_bytes(CommKind::Transpose, peer == me ? 0 : nb, peer == me ? 0 : nb);
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
    for (Axis axis : {Axis::Row, Axis::Col, Axis::Model, Axis::Dp, Axis::World})
      check_axis(coll, axis);
  }
}

// parallel.collectives: "mpi" is the backend every build has; the others are refused with
// one message that names the value and what to use, never accepted silently.
TEST(CommBackend, OnlyImplementedBackendsAreSelected) {
  EXPECT_EQ(select_comm_backend("mpi"), CommBackend::Mpi);
  for (const char* name : {"nccl", "cuda-aware-mpi"}) {
    try {
      select_comm_backend(name);
      ADD_FAILURE() << name << " was accepted, but no such backend is implemented";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(fmt::format(
                    "parallel.collectives = \"{}\" is not available in this build", name)),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("use \"mpi\""), std::string::npos) << what;
      if (!build_info::kHaveCuda)
        EXPECT_NE(what.find("(built without CUDA/NCCL)"), std::string::npos) << what;
    }
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

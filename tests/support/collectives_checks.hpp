// The closed-form checks of Collectives shared by the host test (tests/unit/test_collectives)
// and the device test (tests/gpu/test_collectives_device): every collective on one axis gives
// the MPI result and records exactly the logical bytes of comm_stats.hpp, whatever the
// backend. A Memory type places buffers: `T* put(const std::vector<T>&)` returns memory of
// its kind holding a copy (owned by the Memory), `std::vector<T> get(const T*, n)` reads back.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "parallel/collectives.hpp"

namespace zoptimus::test_support {

constexpr std::int64_t kF = sizeof(float);

// Host memory: copies kept alive until the Memory goes.
struct HostMemory {
  std::deque<std::vector<char>> blocks;
  template <class T>
  T* put(const std::vector<T>& v) {
    blocks.emplace_back(v.size() * sizeof(T) + 1);
    T* p = reinterpret_cast<T*>(blocks.back().data());
    std::copy(v.begin(), v.end(), p);
    return p;
  }
  template <class T>
  std::vector<T> get(const T* p, std::size_t n) {
    return std::vector<T>(p, p + n);
  }
};

// Every valid mesh of the world: 2D dp x q x q and 1D dp x t.
inline std::vector<MeshShape> meshes_of(int world) {
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
inline float value(int rank, std::size_t i) {
  return float((rank * 13 + int(i) * 5) % 17) - 8.0f;
}

// Runs every collective on one axis and checks results and byte counts: each buffer is
// placed in `mem` (host or device memory) and read back for the comparison.
template <class Memory>
void check_axis(Collectives& coll, Axis axis, Memory& mem) {
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
    float* dx = mem.put(x);
    coll.bcast(axis, dx, n, root);
    x = mem.get(dx, n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], value(root, i));
    expect_bytes(CommKind::Bcast, me == root ? nb : 0, me == root ? 0 : nb);

    for (std::size_t i = 0; i < n; ++i) x[i] = me == root ? value(root, i) : -1.0f;
    dx = mem.put(x);
    Request req = coll.ibcast(axis, dx, n, root);
    EXPECT_TRUE(req.pending());
    Request moved = std::move(req);
    EXPECT_FALSE(req.pending());
    moved.wait();
    EXPECT_FALSE(moved.pending());
    x = mem.get(dx, n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(x[i], value(root, i));
    expect_bytes(CommKind::Bcast, me == root ? nb : 0, me == root ? 0 : nb);

    // Reduce, out of place and (on the root) in place.
    for (int in_place = 0; in_place < 2; ++in_place) {
      std::vector<float> send(n), recv(n, -1.0f);
      for (std::size_t i = 0; i < n; ++i) send[i] = value(me, i);
      float* dsend = mem.put(send);
      float* out = (in_place && me == root) ? dsend : mem.put(recv);
      coll.reduce_sum(axis, dsend, out, n, root);
      if (me == root) {
        const std::vector<float> got = mem.get(out, n);
        for (std::size_t i = 0; i < n; ++i) {
          float sum = 0.0f;
          for (int k = 0; k < p; ++k) sum += value(k, i);
          EXPECT_EQ(got[i], sum);
        }
      }
      expect_bytes(CommKind::Reduce, me == root ? 0 : nb, me == root ? nb : 0);
    }
  }

  std::vector<float> f(n), g(n);
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i) f[i] = g[i] = value(me, i), d[i] = 0.5 * value(me, i);
  float* df = mem.put(f);
  float* dg = mem.put(g);
  coll.allreduce_sum(axis, df, n);
  coll.allreduce_max(axis, dg, n);
  f = mem.get(df, n);
  g = mem.get(dg, n);
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
  double* dd = mem.put(d);
  coll.allreduce_sum(axis, dd, n);
  d = mem.get(dd, n);
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
  std::int64_t* dcounts = mem.put(counts);
  coll.allreduce_sum(axis, dcounts, n);
  counts = mem.get(dcounts, n);
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
  float* dout = mem.put(out);
  coll.reduce_scatter_sum(axis, mem.put(in), dout, n);
  out = mem.get(dout, n);
  for (std::size_t i = 0; i < n; ++i) {
    float sum = 0.0f;
    for (int k = 0; k < p; ++k) sum += value(k, me * n + i);
    EXPECT_EQ(out[i], sum);
  }
  expect_bytes(CommKind::ReduceScatter, (p - 1) * (p * nb) / p, (p - 1) * (p * nb) / p);

  // Allgather: n elements from each rank, p*n out, ordered by rank.
  std::vector<float> mine(n), all(p * n, -1.0f);
  for (std::size_t i = 0; i < n; ++i) mine[i] = value(me, i);
  float* dmine = mem.put(mine);
  float* dall = mem.put(all);
  coll.allgather(axis, dmine, dall, n);
  all = mem.get(dall, p * n);
  for (int k = 0; k < p; ++k)
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(all[k * n + i], value(k, i));
  expect_bytes(CommKind::Allgather, (p - 1) * (p * nb) / p, (p - 1) * (p * nb) / p);

  // Transpose: swap with the mirror rank (an involution, so sends and receives pair up).
  const int peer = p - 1 - me;
  std::vector<float> got(n, -1.0f);
  float* dgot = mem.put(got);
  coll.transpose_exchange(axis, dmine, dgot, n, peer);
  got = mem.get(dgot, n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(got[i], value(peer, i));
  expect_bytes(CommKind::Transpose, peer == me ? 0 : nb, peer == me ? 0 : nb);
}

}  // namespace zoptimus::test_support

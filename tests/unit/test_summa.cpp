// SUMMA on the q x q mesh: both summa_ab variants and summa_abt match a serial product of
// the full matrices on every rank's block, and move exactly the closed-form bytes.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "linalg/summa.hpp"

namespace zoptimus {
namespace {

constexpr std::int64_t kF = sizeof(float);

struct Dims {
  int M, K, N;
};

// Global matrices are functions of global indices; small multiples of 1/4 keep every
// product and partial sum exact, so the check is independent of the summation order.
float entry(int seed, int i, int j) {
  return float((seed * 3 + i * 5 + j * 7) % 11 - 5) * 0.25f;
}

// The square 2D mesh of MPI_COMM_WORLD (null if the world is not a square).
std::unique_ptr<Mesh> square_mesh() {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const int q = static_cast<int>(std::lround(std::sqrt(double(world))));
  if (q * q != world) return nullptr;
  MeshShape s;
  s.mode = MeshMode::TwoD;
  s.dp = 1;
  s.q = q;
  return std::make_unique<Mesh>(MPI_COMM_WORLD, s);
}

// Block (br, bc) of the global matrix `entry(seed, ., .)` with blocks of rows x cols.
Matrix block(int seed, int br, int bc, int rows, int cols) {
  Matrix m("block", rows, cols);
  auto h = Kokkos::create_mirror_view(m);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) h(i, j) = entry(seed, br * rows + i, bc * cols + j);
  Kokkos::deep_copy(m, h);
  return m;
}

// Compares this rank's C block with sum_l A(i, l) * B(l, j) over the global matrices
// (B read as [N, K] when b_transposed).
void expect_block(const Matrix& c, int r, int col, int K, bool b_transposed) {
  auto h = Kokkos::create_mirror_view(c);
  Kokkos::deep_copy(h, c);
  const int mb = int(c.extent(0)), nb = int(c.extent(1));
  for (int i = 0; i < mb; ++i)
    for (int j = 0; j < nb; ++j) {
      const int gi = r * mb + i, gj = col * nb + j;
      double ref = 0.0;
      for (int l = 0; l < K; ++l)
        ref += double(entry(1, gi, l)) * (b_transposed ? entry(2, gj, l) : entry(2, l, gj));
      ASSERT_NEAR(h(i, j), ref, 1e-5 * std::max(1.0, std::abs(ref)))
          << "C(" << gi << ", " << gj << ") on rank (" << r << ", " << col << ")";
    }
}

Matrix nan_filled(int rows, int cols) {
  Matrix c("c", rows, cols);
  Kokkos::deep_copy(c, std::numeric_limits<float>::quiet_NaN());
  return c;
}

// Shapes that exercise M < K, M > N, tiny and square blocks; kept if divisible by q.
std::vector<Dims> dims_for(int q) {
  const std::vector<Dims> all = {{12, 18, 6}, {4, 8, 12}, {3, 9, 6}, {6, 3, 12},
                                 {2, 6, 4},   {9, 9, 9},  {1, 5, 3}};
  std::vector<Dims> out;
  for (const Dims& d : all)
    if (d.M % q == 0 && d.K % q == 0 && d.N % q == 0) out.push_back(d);
  return out;
}

TEST(Summa, ABMatchesTheSerialProductWithExactBytes) {
  auto mesh = square_mesh();
  if (!mesh) GTEST_SKIP() << "needs a square number of ranks";
  const int q = mesh->rows(), r = mesh->row(), col = mesh->col();
  CommStats stats;
  Collectives coll(*mesh, stats);
  SummaWorkspace ws;
  for (const Dims& d : dims_for(q))
    for (SummaVariant v : {SummaVariant::Standard, SummaVariant::WeightStationary}) {
      SCOPED_TRACE(to_string(v) + " M=" + std::to_string(d.M) + " K=" + std::to_string(d.K) +
                   " N=" + std::to_string(d.N) + " q=" + std::to_string(q));
      const int mb = d.M / q, kb = d.K / q, nb = d.N / q;
      Matrix a = block(1, r, col, mb, kb), b = block(2, r, col, kb, nb);
      Matrix c = nan_filled(mb, nb);
      stats.reset();
      summa_ab(coll, v, a, b, c, ws);
      expect_block(c, r, col, d.K, false);

      const bool diag = r == col;
      EXPECT_EQ(stats.total_recv(), kF * summa_ab_recv_elements(v, d.M, d.N, d.K, q, diag));
      EXPECT_EQ(stats.total_sent(), kF * summa_ab_sent_elements(v, d.M, d.N, d.K, q, diag));
      const std::int64_t q2 = std::int64_t(q) * q, mk = kF * d.M * d.K / q2,
                         kn = kF * d.K * d.N / q2, mn = kF * d.M * d.N / q2;
      if (q == 1) {
        EXPECT_EQ(stats.total_calls(), 0) << "q = 1 is one local GEMM";
      } else if (v == SummaVariant::Standard) {
        EXPECT_EQ(stats.at(Axis::Row, CommKind::Bcast).calls, q);
        EXPECT_EQ(stats.at(Axis::Row, CommKind::Bcast).bytes_recv, (q - 1) * mk);
        EXPECT_EQ(stats.at(Axis::Row, CommKind::Bcast).bytes_sent, mk);
        EXPECT_EQ(stats.at(Axis::Col, CommKind::Bcast).calls, q);
        EXPECT_EQ(stats.at(Axis::Col, CommKind::Bcast).bytes_recv, (q - 1) * kn);
        EXPECT_EQ(stats.at(Axis::Col, CommKind::Bcast).bytes_sent, kn);
      } else {
        EXPECT_EQ(stats.at(Axis::Model, CommKind::Transpose).bytes_recv, diag ? 0 : mk);
        EXPECT_EQ(stats.at(Axis::Row, CommKind::Allgather).bytes_recv, (q - 1) * mk);
        EXPECT_EQ(stats.at(Axis::Col, CommKind::ReduceScatter).bytes_recv, (q - 1) * mn);
        EXPECT_EQ(stats.at(Axis::Row, CommKind::Bcast).calls, 0) << "B never moves";
        EXPECT_EQ(stats.at(Axis::Col, CommKind::Bcast).calls, 0);
      }
    }
}

TEST(Summa, ABTMatchesTheSerialProductWithExactBytes) {
  auto mesh = square_mesh();
  if (!mesh) GTEST_SKIP() << "needs a square number of ranks";
  const int q = mesh->rows(), r = mesh->row(), col = mesh->col();
  CommStats stats;
  Collectives coll(*mesh, stats);
  SummaWorkspace ws;
  for (const Dims& d : dims_for(q)) {
    SCOPED_TRACE("M=" + std::to_string(d.M) + " K=" + std::to_string(d.K) +
                 " N=" + std::to_string(d.N) + " q=" + std::to_string(q));
    const int mb = d.M / q, kb = d.K / q, nb = d.N / q;
    // B is global [N, K]: rank (r, c) holds B_rc [N/q, K/q].
    Matrix a = block(1, r, col, mb, kb), b = block(2, r, col, nb, kb);
    Matrix c = nan_filled(mb, nb);
    stats.reset();
    summa_abt(coll, a, b, c, ws);
    expect_block(c, r, col, d.K, true);
    EXPECT_EQ(stats.total_recv(), kF * summa_abt_recv_elements(d.M, d.N, d.K, q));
    EXPECT_EQ(stats.total_sent(), kF * summa_abt_sent_elements(d.M, d.N, d.K, q));
    if (q > 1) {
      const std::int64_t q2 = std::int64_t(q) * q;
      EXPECT_EQ(stats.at(Axis::Col, CommKind::Bcast).calls, q);
      EXPECT_EQ(stats.at(Axis::Col, CommKind::Bcast).bytes_recv, (q - 1) * kF * d.N * d.K / q2);
      EXPECT_EQ(stats.at(Axis::Row, CommKind::Reduce).calls, q);
      EXPECT_EQ(stats.at(Axis::Row, CommKind::Reduce).bytes_recv, kF * d.M * d.N / q2);
      EXPECT_EQ(stats.at(Axis::Row, CommKind::Reduce).bytes_sent, (q - 1) * kF * d.M * d.N / q2);
    } else {
      EXPECT_EQ(stats.total_calls(), 0);
    }
  }
}

TEST(Summa, WorkspaceIsReusedAndRepeatedCallsAgree) {
  auto mesh = square_mesh();
  if (!mesh) GTEST_SKIP() << "needs a square number of ranks";
  const int q = mesh->rows(), r = mesh->row(), col = mesh->col();
  CommStats stats;
  Collectives coll(*mesh, stats);
  SummaWorkspace ws;
  const int mb = 4, kb = 6, nb = 2;
  Matrix a = block(1, r, col, mb, kb), b = block(2, r, col, kb, nb);
  Matrix c = nan_filled(mb, nb);
  summa_ab(coll, SummaVariant::Standard, a, b, c, ws);
  summa_ab(coll, SummaVariant::WeightStationary, a, b, c, ws);
  const std::size_t bytes = ws.bytes();
  for (int rep = 0; rep < 3; ++rep) {
    summa_ab(coll, SummaVariant::Standard, a, b, c, ws);
    expect_block(c, r, col, q * kb, false);
    summa_ab(coll, SummaVariant::WeightStationary, a, b, c, ws);
    expect_block(c, r, col, q * kb, false);
  }
  EXPECT_EQ(ws.bytes(), bytes) << "no allocation after the first calls";
  ws.release();
  EXPECT_EQ(ws.bytes(), 0u);
}

TEST(Summa, ChoosesWeightStationaryForFewTokens) {
  // Few tokens against a large weight: moving activations is cheaper.
  EXPECT_EQ(choose_summa_variant(8, 1024, 1024, 4), SummaVariant::WeightStationary);
  // Many tokens: Standard moves less.
  EXPECT_EQ(choose_summa_variant(8192, 1024, 1024, 4), SummaVariant::Standard);
  EXPECT_EQ(choose_summa_variant(8, 1024, 1024, 1), SummaVariant::Standard);
  for (std::int64_t M : {4, 64, 512, 4096}) {
    const auto st = summa_ab_recv_elements(SummaVariant::Standard, M, 768, 768, 3);
    const auto ws = summa_ab_recv_elements(SummaVariant::WeightStationary, M, 768, 768, 3);
    EXPECT_EQ(choose_summa_variant(M, 768, 768, 3),
              ws < st ? SummaVariant::WeightStationary : SummaVariant::Standard);
  }
}

TEST(Summa, AutomaticVariantAndShapeErrors) {
  auto mesh = square_mesh();
  if (!mesh) GTEST_SKIP() << "needs a square number of ranks";
  const int q = mesh->rows(), r = mesh->row(), col = mesh->col();
  CommStats stats;
  Collectives coll(*mesh, stats);
  SummaWorkspace ws;
  Matrix a = block(1, r, col, 1, 8), b = block(2, r, col, 8, 8), c = nan_filled(1, 8);
  summa_ab(coll, a, b, c, ws);
  expect_block(c, r, col, 8 * q, false);
  const SummaVariant chosen = choose_summa_variant(q, 8 * q, 8 * q, q);
  EXPECT_EQ(stats.total_recv(), kF * summa_ab_recv_elements(chosen, q, 8 * q, 8 * q, q, r == col));
  // The checks run before any communication, identically on every rank.
  EXPECT_THROW(summa_ab(coll, SummaVariant::Standard, a, Matrix("b", 7, 8), c, ws), Error);
  EXPECT_THROW(summa_abt(coll, a, Matrix("b", 8, 7), c, ws), Error);
}

}  // namespace
}  // namespace zoptimus

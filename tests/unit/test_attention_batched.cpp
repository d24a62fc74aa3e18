// The device attention path (strided-batched GEMMs + a team softmax kernel), run here on host
// memory where its GEMMs are CBLAS loops, against the direct causal softmax in double: query
// tiles that do not divide the sequence, a tile of 1, a tile longer than the sequence, scores
// whose maximum moves with the position, several sequences and heads (the batch and head
// strides), and 2048 tokens. Also the same inputs through the host path (blocked, online
// softmax): the two kernels agree with each other as well as with the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention_batched.hpp"
#include "kernels/attention_blocked.hpp"
#include "support/attention_reference.hpp"

namespace zoptimus {
namespace {

using test::Case;
using test::make_qkv;
using test::reference;

Matrix to_view(const std::vector<float>& v, int rows, int cols) {
  Matrix m("m", rows, cols);
  auto h = Kokkos::create_mirror_view(m);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) h(r, c) = v[static_cast<std::size_t>(r) * cols + c];
  Kokkos::deep_copy(m, h);
  return m;
}

// Largest |batched - reference| (same tolerance argument as test_attention_blocked: outputs are
// convex combinations of N(0, 1) values; float rounding gives a few 1e-6, masking or
// normalisation mistakes O(0.1)).
double max_error(const Case& c, const std::vector<float>& qkv, int tile) {
  const int ld = c.heads * 3 * c.head_dim, ldo = c.heads * c.head_dim;
  const int tokens = c.batch * c.seq;
  Matrix q = to_view(qkv, tokens, ld);
  Matrix o =
      to_view(std::vector<float>(static_cast<std::size_t>(tokens) * ldo, -7.0f), tokens, ldo);
  causal_attention_batched(q, c.batch, c.seq, c.heads, c.head_dim, o, tile);
  auto oh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), o);
  const std::vector<double> ref = reference(c, qkv);
  double worst = 0;
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < ldo; ++j)
      worst = std::max(worst, std::abs(oh(t, j) - ref[static_cast<std::size_t>(t) * ldo + j]));
  return worst;
}

TEST(AttentionBatched, OddLengthsAndTiles) {
  const Case c{3, 77, 3, 16};
  const auto qkv = make_qkv(c, 1.5f, 0.0f, 11);
  for (int tile : {1, 7, 16, 76, 77, 78, 256})
    EXPECT_LT(max_error(c, qkv, tile), 2e-5) << "query tile " << tile;
}

TEST(AttentionBatched, MaximumMovesWithPosition) {
  const Case c{2, 300, 2, 32};
  const auto qkv = make_qkv(c, 1.0f, 0.05f, 12);
  EXPECT_LT(max_error(c, qkv, 64), 2e-5);
  EXPECT_LT(max_error(c, qkv, kBatchedAttentionQueryTile), 2e-5);
}

TEST(AttentionBatched, Sequence2048) {
  const Case c{1, 2048, 1, 16};
  const auto qkv = make_qkv(c, 1.5f, 0.0f, 13);
  EXPECT_LT(max_error(c, qkv, kBatchedAttentionQueryTile), 2e-5);
}

TEST(AttentionBatched, AgreesWithTheHostKernel) {
  const Case c{4, 130, 4, 8};
  const auto qkv = make_qkv(c, 1.0f, 0.0f, 14);
  const int ld = c.heads * 3 * c.head_dim, ldo = c.heads * c.head_dim, tokens = c.batch * c.seq;
  std::vector<float> blocked(static_cast<std::size_t>(tokens) * ldo);
  causal_attention_blocked(qkv.data(), ld, c.batch, c.seq, c.heads, c.head_dim, blocked.data(),
                           ldo);
  Matrix q = to_view(qkv, tokens, ld), o("o", tokens, ldo);
  causal_attention_batched(q, c.batch, c.seq, c.heads, c.head_dim, o);
  auto oh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), o);
  double worst = 0;
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < ldo; ++j)
      worst = std::max(worst, double(std::abs(oh(t, j) - blocked[std::size_t(t) * ldo + j])));
  EXPECT_LT(worst, 2e-5);
}

}  // namespace
}  // namespace zoptimus

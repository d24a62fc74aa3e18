// Blocked causal attention (GEMM tiles + online softmax) against a direct causal softmax in
// double, at sequence lengths that are not multiples of the tiles, with key tiles smaller
// than query tiles (rows that see none of a tile), with scores whose maximum moves to a new
// tile at every step (the online rescale is exercised), and at 2048 tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.hpp"
#include "kernels/attention_blocked.hpp"
#include "support/attention_reference.hpp"

namespace zoptimus {
namespace {

using test::Case;
using test::make_qkv;
using test::reference;

// Largest |blocked - reference|. The outputs are convex combinations of N(0, 1) values, so
// absolute error is the right measure; float scores (relative error ~1e-7 of |s| <= ~50) and
// float weights give errors of a few 1e-6 at most, and 2e-5 still catches any masking or
// rescaling mistake (those are O(0.1)).
double max_error(const Case& c, const std::vector<float>& qkv, int tq, int tk) {
  const int ld = c.heads * 3 * c.head_dim, ldo = c.heads * c.head_dim;
  std::vector<float> out(static_cast<std::size_t>(c.batch) * c.seq * ldo, -7.0f);
  causal_attention_blocked(qkv.data(), ld, c.batch, c.seq, c.heads, c.head_dim, out.data(), ldo, tq,
                           tk);
  const std::vector<double> ref = reference(c, qkv);
  double worst = 0;
  for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::abs(out[i] - ref[i]));
  return worst;
}

TEST(AttentionBlocked, OddLengthsAndTiles) {
  const Case c{2, 77, 3, 16};
  const auto qkv = make_qkv(c, 1.5f, 0.0f, 1);
  for (auto [tq, tk] : {std::pair{16, 24}, std::pair{24, 16}, std::pair{7, 5}, std::pair{128, 256},
                        std::pair{77, 77}, std::pair{1, 1}})
    EXPECT_LT(max_error(c, qkv, tq, tk), 2e-5) << "tiles " << tq << " x " << tk;
}

TEST(AttentionBlocked, MaximumMovesAcrossKeyTiles) {
  // Scores grow with the key position (drift), so each new key tile holds a larger max and
  // the output accumulated so far must be rescaled.
  const Case c{1, 300, 2, 32};
  const auto qkv = make_qkv(c, 1.0f, 0.05f, 2);
  EXPECT_LT(max_error(c, qkv, 64, 32), 2e-5);
  EXPECT_LT(max_error(c, qkv, kAttentionQueryTile, kAttentionKeyTile), 2e-5);
}

TEST(AttentionBlocked, Sequence2048) {
  const Case c{1, 2048, 1, 16};
  const auto qkv = make_qkv(c, 1.5f, 0.0f, 3);
  EXPECT_LT(max_error(c, qkv, kAttentionQueryTile, kAttentionKeyTile), 2e-5);
}

TEST(AttentionBlocked, ViewEntryPointUsesTheLayout) {
  // causal_attention on Views (the transformer's call) gives the same as the pointer form.
  const Case c{3, 130, 4, 8};
  const auto qkv = make_qkv(c, 1.0f, 0.0f, 4);
  const int ld = c.heads * 3 * c.head_dim, ldo = c.heads * c.head_dim;
  Matrix q("qkv", c.batch * c.seq, ld), o("out", c.batch * c.seq, ldo);
  auto qh = Kokkos::create_mirror_view(q);
  for (int t = 0; t < c.batch * c.seq; ++t)
    for (int j = 0; j < ld; ++j) qh(t, j) = qkv[static_cast<std::size_t>(t) * ld + j];
  Kokkos::deep_copy(q, qh);
  causal_attention(q, c.batch, c.seq, c.heads, c.head_dim, o);
  auto oh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), o);
  const std::vector<double> ref = reference(c, qkv);
  double worst = 0;
  for (int t = 0; t < c.batch * c.seq; ++t)
    for (int j = 0; j < ldo; ++j)
      worst = std::max(worst, std::abs(oh(t, j) - ref[static_cast<std::size_t>(t) * ldo + j]));
  EXPECT_LT(worst, 2e-5);
}

}  // namespace
}  // namespace zoptimus

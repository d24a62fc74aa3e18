// Blocked causal attention on the host (see attention_blocked.hpp).
//
// The q, k and v columns of a head are read in place through the GEMM's row stride, so no
// layout copy is made (and none has to be shared between the two streams of the dual
// forward). The same decomposition maps to strided-batched GEMMs on a device.
#include "kernels/attention_blocked.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <Kokkos_Core.hpp>

#include "kernels/fast_math.hpp"
#include "kernels/lane_reduce.hpp"
#include "linalg/gemm.hpp"

namespace zoptimus {

namespace {

struct TileScratch {
  std::vector<float> scores;       // [query tile, key tile]
  std::vector<float> row_max;      // running max per query row
  std::vector<float> row_sum;      // running sum of exp(s - max) per query row
  std::vector<float> row_rescale;  // exp(old max - new max) for this key tile
  void reserve(int tq, int tk) {
    if (scores.size() < static_cast<std::size_t>(tq) * tk)
      scores.resize(static_cast<std::size_t>(tq) * tk);
    if (row_max.size() < static_cast<std::size_t>(tq)) {
      row_max.resize(tq);
      row_sum.resize(tq);
      row_rescale.resize(tq);
    }
  }
};

// Softmax step for one key tile: scores s[r][0..nk) of query row q0 + r against keys k0...;
// keys after the query (j > i) are masked. Turns s into the unnormalised weights
// exp(s - new max), updates the running max/sum and records the rescale of earlier output.
void online_softmax_tile(float* s, int ld_s, int nq, int nk, int q0, int k0, bool first,
                         TileScratch& w) {
  for (int r = 0; r < nq; ++r) {
    float* row = s + static_cast<std::ptrdiff_t>(r) * ld_s;
    // Keys after the query are masked; a row may see none of this tile (small key tiles).
    const int valid = std::max(0, std::min(nk, q0 + r - k0 + 1));
    const float m = first ? -3.0e38f : w.row_max[r];
    const float tile_max = lanes::max_of(row, valid);
    const float m_new = tile_max > m ? tile_max : m;
    const float sum = lanes::exp_in_place_sum(row, valid, m_new);
    for (int j = valid; j < nk; ++j) row[j] = 0.0f;
    const float rescale = first ? 0.0f : fast_exp(m - m_new);
    w.row_rescale[r] = rescale;
    w.row_sum[r] = (first ? 0.0f : w.row_sum[r] * rescale) + sum;
    w.row_max[r] = m_new;
  }
}

void attend_one_head(const float* q, const float* k, const float* v, int ld_qkv, int seq,
                     int head_dim, float scale, float* out, int ld_out, int tq, int tk,
                     TileScratch& w) {
  for (int q0 = 0; q0 < seq; q0 += tq) {
    const int nq = std::min(tq, seq - q0);
    const int q_end = q0 + nq;  // keys [0, q_end) can be visible to this query tile
    float* o = out + static_cast<std::ptrdiff_t>(q0) * ld_out;
    for (int k0 = 0; k0 < q_end; k0 += tk) {
      const int nk = std::min(tk, q_end - k0);
      const bool first = k0 == 0;
      // S = scale * Q K^T for the tile.
      gemm(Trans::No, Trans::Yes, nq, nk, head_dim, scale,
           q + static_cast<std::ptrdiff_t>(q0) * ld_qkv, ld_qkv,
           k + static_cast<std::ptrdiff_t>(k0) * ld_qkv, ld_qkv, 0.0f, w.scores.data(), nk);
      online_softmax_tile(w.scores.data(), nk, nq, nk, q0, k0, first, w);
      if (!first) {
        for (int r = 0; r < nq; ++r) {
          float* orow = o + static_cast<std::ptrdiff_t>(r) * ld_out;
          const float a = w.row_rescale[r];
          for (int d = 0; d < head_dim; ++d) orow[d] *= a;
        }
      }
      // O += P V (O = P V on the first tile).
      gemm(Trans::No, Trans::No, nq, head_dim, nk, 1.0f, w.scores.data(), nk,
           v + static_cast<std::ptrdiff_t>(k0) * ld_qkv, ld_qkv, first ? 0.0f : 1.0f, o, ld_out);
    }
    for (int r = 0; r < nq; ++r) {
      float* orow = o + static_cast<std::ptrdiff_t>(r) * ld_out;
      const float inv = 1.0f / w.row_sum[r];
      for (int d = 0; d < head_dim; ++d) orow[d] *= inv;
    }
  }
}

}  // namespace

void causal_attention_blocked(const float* qkv, int ld_qkv, int batch, int seq, int heads,
                              int head_dim, float* out, int ld_out, int query_tile, int key_tile) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int tq = std::max(1, std::min(query_tile, seq));
  const int tk = std::max(1, std::min(key_tile, seq));
  // One work item per (sequence, head); the scratch is per thread and kept between calls.
  Kokkos::parallel_for("zoptimus::causal_attention_blocked",
                       Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, batch * heads),
                       [=](const int item) {
                         thread_local TileScratch w;
                         w.reserve(tq, tk);
                         const int b = item / heads, h = item % heads;
                         const float* base = qkv + static_cast<std::ptrdiff_t>(b) * seq * ld_qkv +
                                             static_cast<std::ptrdiff_t>(h) * 3 * head_dim;
                         float* o = out + static_cast<std::ptrdiff_t>(b) * seq * ld_out +
                                    static_cast<std::ptrdiff_t>(h) * head_dim;
                         attend_one_head(base, base + head_dim, base + 2 * head_dim, ld_qkv, seq,
                                         head_dim, scale, o, ld_out, tq, tk, w);
                       });
}

}  // namespace zoptimus

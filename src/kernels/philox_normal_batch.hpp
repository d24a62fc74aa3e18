// Host-side batched generation: the normals of kNormalBatchQuads consecutive quads at once,
// bit-identical to philox_normal4. Written as three straight-line loops over the quads
// (Philox, radii, angles) so that the compiler vectorizes each across quads; one quad at a
// time runs about 4x slower on AVX-512 (see docs/performance.md).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/philox_normal.hpp"

namespace zoptimus {

inline constexpr int kNormalBatchQuads = 64;
inline constexpr int kNormalBatch = 4 * kNormalBatchQuads;

// out[4 q + e] = philox_normal4(seed, stream, first_quad + q).v[e] for q < kNormalBatchQuads.
inline void philox_normal_batch(std::uint64_t seed, std::uint64_t stream, std::uint64_t first_quad,
                                float* out) {
  using namespace normal_detail;
  // Philox4x32-10 rounds as in Random123 (test_philox_normal checks every word against
  // r123::Philox4x32), with each 32-bit word held in a 64-bit lane: the 32x32->64 products
  // then map onto one vector multiply (vpmuludq) instead of unpack/multiply/pack sequences,
  // ~1.6x faster on AVX-512 than the same loop over Random123's uint32 arrays.
  constexpr std::uint64_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint64_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u, kLow = 0xFFFFFFFFu;
  std::uint32_t w[4][kNormalBatchQuads];
  for (int q = 0; q < kNormalBatchQuads; ++q) {
    const std::uint64_t quad = first_quad + static_cast<std::uint64_t>(q);
    std::uint64_t x0 = quad & kLow, x1 = quad >> 32, x2 = seed >> 32, x3 = stream >> 32;
    std::uint64_t k0 = seed & kLow, k1 = stream & kLow;
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t p0 = kMul0 * x0, p1 = kMul1 * x2;
      const std::uint64_t y0 = (p1 >> 32) ^ x1 ^ k0, y2 = (p0 >> 32) ^ x3 ^ k1;
      x1 = p1 & kLow, x3 = p0 & kLow, x0 = y0, x2 = y2;
      k0 = (k0 + kWeyl0) & kLow, k1 = (k1 + kWeyl1) & kLow;
    }
    w[0][q] = static_cast<std::uint32_t>(x0), w[1][q] = static_cast<std::uint32_t>(x1);
    w[2][q] = static_cast<std::uint32_t>(x2), w[3][q] = static_cast<std::uint32_t>(x3);
  }
  float radius[2][kNormalBatchQuads];
  for (int q = 0; q < kNormalBatchQuads; ++q) {
    radius[0][q] = box_muller_radius(w[0][q]);
    radius[1][q] = box_muller_radius(w[2][q]);
  }
  for (int q = 0; q < kNormalBatchQuads; ++q) {
    float c0, s0, c1, s1;
    cos_sin_two_pi(w[1][q] >> 8, c0, s0);
    cos_sin_two_pi(w[3][q] >> 8, c1, s1);
    out[4 * q] = radius[0][q] * c0;
    out[4 * q + 1] = radius[0][q] * s0;
    out[4 * q + 2] = radius[1][q] * c1;
    out[4 * q + 3] = radius[1][q] * s1;
  }
}

// Host loops over a local row walk it in chunks of one batch each, aligned to global quads:
// chunk k of a row whose local column 0 has global index g_row covers local columns
// [begin, end), and batch slot s holds column base + s.
struct RowChunk {
  int base, begin, end;
  std::uint64_t first_quad;
};

inline int row_chunks(int cols) {
  return (3 + cols + kNormalBatch - 1) / kNormalBatch;
}

inline RowChunk row_chunk(std::int64_t g_row, int k, int cols) {
  const int off = static_cast<int>(g_row & 3);
  RowChunk c;
  c.base = k * kNormalBatch - off;
  c.begin = std::max(0, c.base);
  c.end = std::min(cols, c.base + kNormalBatch);
  c.first_quad = static_cast<std::uint64_t>((g_row - off) / 4) +
                 static_cast<std::uint64_t>(k) * kNormalBatchQuads;
  return c;
}

}  // namespace zoptimus

// The ZO direction z, drawn from one of two distributions, element i of stream k under seed s
// a pure function of (s, k, i) on every rank and device:
//   gaussian   - N(0, 1) (MeZO): Philox4x32-10 + Box-Muller, four normals per Philox call
//                (philox_normal.hpp, philox_normal_batch.hpp);
//   rademacher - +-1 with probability 1/2 each (SPSA's symmetric Bernoulli directions): one
//                bit per entry and no Box-Muller. The host batch form makes one Philox call
//                per 128 entries; the per-quad form (devices) still makes one per quad and
//                saves only the Box-Muller arithmetic.
// Both have E[z] = 0 and E[z z^T] = I, so eps and lr mean the same under either.
//
// Rademacher bit layout: entry i is bit i mod 128 of the 128-bit Philox output for counter
// i / 128 (bit b of the output is bit b mod 32 of word b / 32), set = +1.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/choices.hpp"
#include "kernels/philox_normal.hpp"
#include "kernels/philox_normal_batch.hpp"

namespace zoptimus {

namespace sign_detail {
// +1.0f where bit 0 of `bit` is set, -1.0f where clear: a sign-bit flip, no branch (the bits
// are random, so a branch would mispredict half the time).
KOKKOS_INLINE_FUNCTION float sign_of_bit(std::uint32_t bit) {
  return normal_detail::bits_to_float(0xBF800000u ^ ((bit & 1u) << 31));
}
}  // namespace sign_detail

// The signs of indices 4 * quad + 0..3.
KOKKOS_INLINE_FUNCTION Normal4 philox_sign4(std::uint64_t seed, std::uint64_t stream,
                                            std::uint64_t quad) {
  const r123::Philox4x32::ctr_type r = normal_detail::philox_bits(seed, stream, quad >> 5);
  const std::uint32_t bits = r[(quad >> 3) & 3u] >> (4u * (quad & 7u));
  Normal4 out;
  for (int e = 0; e < 4; ++e) out.v[e] = sign_detail::sign_of_bit(bits >> e);
  return out;
}

// out[4 q + e] = philox_sign4(seed, stream, first_quad + q).v[e] for q < kNormalBatchQuads.
// The batch's 256 entries lie in at most three 128-entry counters: all 384 signs of the three
// are expanded word by word (a constant word shifted by 0..31: the loop vectorizes, where a
// per-entry word lookup does not and costs ~20x more), then the batch's window is copied out.
inline void philox_sign_batch(std::uint64_t seed, std::uint64_t stream, std::uint64_t first_quad,
                              float* out) {
  const std::uint64_t first = 4 * first_quad, counter0 = first >> 7;
  std::uint32_t words[12];
  for (int c = 0; c < 3; ++c) {
    const r123::Philox4x32::ctr_type r =
        normal_detail::philox_bits(seed, stream, counter0 + static_cast<std::uint64_t>(c));
    for (int w = 0; w < 4; ++w) words[4 * c + w] = r[w];
  }
  alignas(64) float signs[12 * 32];
  for (int w = 0; w < 12; ++w)
    for (int b = 0; b < 32; ++b) signs[32 * w + b] = sign_detail::sign_of_bit(words[w] >> b);
  std::memcpy(out, signs + (first & 127), sizeof(float) * kNormalBatch);
}

KOKKOS_INLINE_FUNCTION Normal4 direction4(Perturbation dist, std::uint64_t seed,
                                          std::uint64_t stream, std::uint64_t quad) {
  return dist == Perturbation::Rademacher ? philox_sign4(seed, stream, quad)
                                          : philox_normal4(seed, stream, quad);
}

inline void direction_batch(Perturbation dist, std::uint64_t seed, std::uint64_t stream,
                            std::uint64_t first_quad, float* out) {
  if (dist == Perturbation::Rademacher)
    philox_sign_batch(seed, stream, first_quad, out);
  else
    philox_normal_batch(seed, stream, first_quad, out);
}

// One entry (tests and serial references).
KOKKOS_INLINE_FUNCTION float direction(Perturbation dist, std::uint64_t seed, std::uint64_t stream,
                                       std::uint64_t index) {
  return direction4(dist, seed, stream, index >> 2).v[index & 3];
}

}  // namespace zoptimus

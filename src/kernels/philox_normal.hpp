// Counter-based N(0,1) samples: element i of stream k under seed s is a pure function of
// (s, k, i) (Random123 Philox4x32-10 + Box-Muller), so any rank can regenerate any slice of
// a random tensor from global indices alone, on host or device. One Philox call yields the
// four normals of indices 4c .. 4c+3 (two Box-Muller pairs); kernels that walk consecutive
// indices use philox_normal4 to pay for it once, and host loops use the batched form in
// philox_normal_batch.hpp, which gives the same bits.
//
// Box-Muller uses the float polynomials below instead of libm: they are branch-free (so host
// loops vectorize), accurate to ~2e-7 relative to the radius (checked against double libm in
// test_philox_normal), and made of IEEE +, -, *, /, sqrt only, so with contraction off
// (-ffp-contract=off on the host, --fmad=false under nvcc; see ZoptimusDependencies.cmake)
// every build and device computes the same bits. libm's logf/sinf differ between glibc and
// CUDA, which would make a replay on another machine drift.
#pragma once

#include <cstdint>
#include <cstring>

#include <Random123/philox.h>
#include <Kokkos_Core.hpp>

#include "kernels/kokkos_math.hpp"

namespace zoptimus {

struct Normal4 {
  float v[4];
};

namespace normal_detail {

KOKKOS_INLINE_FUNCTION float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

KOKKOS_INLINE_FUNCTION std::uint32_t float_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// -2 ln(u) for u = (r24 + 1) 2^-24 in (0, 1] (r24 < 2^24): u = 2^e m with m in
// [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) with s = (m-1)/(m+1), |s| <= 0.172, series to s^9
// (truncation < 3e-9 relative). Only integer selects, so the loop if-converts.
KOKKOS_INLINE_FUNCTION float minus_two_log_unit(std::uint32_t r24) {
  const float x = static_cast<float>(static_cast<std::int32_t>(r24 + 1u));  // exact
  const std::uint32_t bits = float_to_bits(x);
  const std::uint32_t mantissa = bits & 0x7FFFFFu;
  const std::uint32_t above = mantissa > 0x3504F3u ? 1u : 0u;  // m > sqrt(2): use m / 2
  const float m = bits_to_float(mantissa | (0x3F800000u - (above << 23)));
  const int e = static_cast<int>(bits >> 23) - 127 + static_cast<int>(above) - 24;
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  const float series =
      1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
  const float ln_u = static_cast<float>(e) * 0.693147181f + 2.0f * s * series;
  return -2.0f * ln_u;
}

// cos and sin of 2 pi v for v = r24 2^-24: the top two bits pick the quadrant, the rest the
// angle in it, folded to a in [0, pi/4] where Taylor to a^9 / a^8 is below 3e-8.
KOKKOS_INLINE_FUNCTION void cos_sin_two_pi(std::uint32_t r24, float& c, float& s) {
  const std::uint32_t quadrant = r24 >> 22, w = r24 & 0x3FFFFFu;
  const bool upper = w > 0x200000u;  // angle in (pi/4, pi/2): use the complement
  const std::uint32_t folded = upper ? 0x400000u - w : w;
  const float a =
      static_cast<float>(static_cast<std::int32_t>(folded)) * 3.74507039e-7f;  // pi/2 / 2^22
  const float a2 = a * a;
  const float sin_a =
      a * (1.0f + a2 * (-1.66666667e-1f +
                        a2 * (8.33333333e-3f + a2 * (-1.98412698e-4f + a2 * 2.75573192e-6f))));
  const float cos_a =
      1.0f + a2 * (-0.5f + a2 * (4.16666667e-2f + a2 * (-1.38888889e-3f + a2 * 2.48015873e-5f)));
  const float sin_phi = upper ? cos_a : sin_a, cos_phi = upper ? sin_a : cos_a;
  const float c1 = (quadrant & 1u) ? -sin_phi : cos_phi;  // rotate by quadrant * pi/2
  const float s1 = (quadrant & 1u) ? cos_phi : sin_phi;
  c = (quadrant & 2u) ? -c1 : c1;
  s = (quadrant & 2u) ? -s1 : s1;
}

// The Philox4x32-10 output for counter `quad` of (seed, stream).
KOKKOS_INLINE_FUNCTION r123::Philox4x32::ctr_type philox_bits(std::uint64_t seed,
                                                              std::uint64_t stream,
                                                              std::uint64_t quad) {
  using Philox = r123::Philox4x32;
  Philox rng;
  const Philox::ctr_type ctr = {
      {static_cast<std::uint32_t>(quad), static_cast<std::uint32_t>(quad >> 32),
       static_cast<std::uint32_t>(seed >> 32), static_cast<std::uint32_t>(stream >> 32)}};
  const Philox::key_type key = {
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(stream)}};
  return rng(ctr, key);
}

// Pair p of a Philox output: radius from word 2p, angle from word 2p+1 (24 bits each, which
// fill a float mantissa exactly; u1 in (0, 1] keeps the log finite).
KOKKOS_INLINE_FUNCTION float box_muller_radius(std::uint32_t word) {
  return kmath::sqrt(minus_two_log_unit(word >> 8));
}

}  // namespace normal_detail

// The normals of indices 4 * quad + 0..3.
KOKKOS_INLINE_FUNCTION Normal4 philox_normal4(std::uint64_t seed, std::uint64_t stream,
                                              std::uint64_t quad) {
  using namespace normal_detail;
  const r123::Philox4x32::ctr_type r = philox_bits(seed, stream, quad);
  Normal4 out;
  for (int pair = 0; pair < 2; ++pair) {
    const float radius = box_muller_radius(r[2 * pair]);
    float c, s;
    cos_sin_two_pi(r[2 * pair + 1] >> 8, c, s);
    out.v[2 * pair] = radius * c;
    out.v[2 * pair + 1] = radius * s;
  }
  return out;
}

KOKKOS_INLINE_FUNCTION float philox_normal(std::uint64_t seed, std::uint64_t stream,
                                           std::uint64_t index) {
  return philox_normal4(seed, stream, index >> 2).v[index & 3];
}

}  // namespace zoptimus

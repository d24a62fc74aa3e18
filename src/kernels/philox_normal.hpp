// Counter-based N(0,1) samples: element i of stream k under seed s is a pure function of
// (s, k, i) (Random123 Philox4x32-10 + Box-Muller), so any rank can regenerate any slice of
// a random tensor from global indices alone, on host or device. One Philox call yields the
// four normals of indices 4c .. 4c+3 (two Box-Muller pairs); kernels that walk consecutive
// indices use philox_normal4 to pay for it once.
#pragma once

#include <cstdint>

#include <Random123/philox.h>
#include <Kokkos_Core.hpp>

#include "kernels/kokkos_math.hpp"

namespace zoptimus {

struct Normal4 {
  float v[4];
};

// The normals of indices 4 * quad + 0..3.
KOKKOS_INLINE_FUNCTION Normal4 philox_normal4(std::uint64_t seed, std::uint64_t stream,
                                              std::uint64_t quad) {
  using Philox = r123::Philox4x32;
  Philox rng;
  Philox::ctr_type ctr = {{static_cast<std::uint32_t>(quad), static_cast<std::uint32_t>(quad >> 32),
                           static_cast<std::uint32_t>(seed >> 32),
                           static_cast<std::uint32_t>(stream >> 32)}};
  Philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(stream)}};
  Philox::ctr_type r = rng(ctr, key);
  const float kTwoPi = 6.283185307179586f, kScale = 1.0f / 16777216.0f;
  Normal4 out;
  for (int pair = 0; pair < 2; ++pair) {
    // u1 in (0, 1] keeps the log finite; 24 bits fill a float mantissa exactly.
    const float u1 = (static_cast<float>(r[2 * pair] >> 8) + 1.0f) * kScale;
    const float u2 = static_cast<float>(r[2 * pair + 1] >> 8) * kScale;
    const float radius = kmath::sqrt(-2.0f * kmath::log(u1));
    out.v[2 * pair] = radius * kmath::cos(kTwoPi * u2);
    out.v[2 * pair + 1] = radius * kmath::sin(kTwoPi * u2);
  }
  return out;
}

KOKKOS_INLINE_FUNCTION float philox_normal(std::uint64_t seed, std::uint64_t stream,
                                           std::uint64_t index) {
  return philox_normal4(seed, stream, index >> 2).v[index & 3];
}

}  // namespace zoptimus

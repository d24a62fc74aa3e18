// Counter-based N(0,1) samples: element i of stream k under seed s is a pure function of
// (s, k, i) (Random123 Philox4x32-10 + Box-Muller), so any rank can regenerate any slice of
// a random tensor from global indices alone, on host or device.
#pragma once

#include <cstdint>

#include <Random123/philox.h>
#include <Kokkos_Core.hpp>

#include "kernels/kokkos_math.hpp"

namespace zoptimus {

KOKKOS_INLINE_FUNCTION float philox_normal(std::uint64_t seed, std::uint64_t stream,
                                           std::uint64_t index) {
  using Philox = r123::Philox4x32;
  Philox rng;
  Philox::ctr_type ctr = {
      {static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
       static_cast<std::uint32_t>(seed >> 32), static_cast<std::uint32_t>(stream >> 32)}};
  Philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(stream)}};
  Philox::ctr_type r = rng(ctr, key);
  // Box-Muller on two 32-bit outputs: u1 in (0, 1] keeps the log finite.
  const float kTwoPi = 6.283185307179586f;
  const float u1 = (static_cast<float>(r[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);
  const float u2 = static_cast<float>(r[1] >> 8) * (1.0f / 16777216.0f);
  return kmath::sqrt(-2.0f * kmath::log(u1)) * kmath::cos(kTwoPi * u2);
}

}  // namespace zoptimus

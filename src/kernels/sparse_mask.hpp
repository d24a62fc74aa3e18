// Sparse-MeZO's mask |theta| <= h (+inf when dense; NaN is outside), evaluated the
// same way by every kernel that regenerates masked directions (the ZO pass, the Anderson
// Gram). It is an integer compare of the bit patterns: IEEE order of non-negative floats is
// the order of their bits, and an integer compare cannot trap, so host loops if-convert and
// vectorize.
#pragma once

#include <cstdint>

#include "core/error.hpp"
#include "kernels/philox_normal.hpp"

namespace zoptimus {

// What in_mask compares against. Thresholds are quantiles of |theta|, +inf for dense
// tensors, or negative for an empty mask (sparse_thresholds on a tensor with no entries).
inline std::int32_t mask_bits(float threshold) {
  if (threshold != threshold) fail("internal error: Sparse-MeZO threshold is NaN");
  if (threshold < 0.0f) return -1;  // no |theta| passes
  return static_cast<std::int32_t>(normal_detail::float_to_bits(threshold) & 0x7FFFFFFFu);
}

KOKKOS_INLINE_FUNCTION bool in_mask(float theta, std::int32_t h_bits) {
  return static_cast<std::int32_t>(normal_detail::float_to_bits(theta) & 0x7FFFFFFFu) <= h_bits;
}

}  // namespace zoptimus

// LayerNorm over a hidden dimension that may be split across ranks: each rank sums its slice
// (sum and sum of squares per token, in double), the caller allreduces the sums along the
// mesh row, then every rank normalises its slice.
#pragma once

#include "core/types.hpp"

namespace zoptimus {

// Per-token partial sums over the local hidden slice: stats(t, 0) = sum x, stats(t, 1) = sum x^2.
using LayerNormStats = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>;

void layernorm_partial_stats(ConstMatrix x, LayerNormStats stats);

// y = (x - mean) / sqrt(var + eps) * gamma + beta, with mean and (biased) var over the global
// hidden size from the reduced stats; gamma/beta are [1, local hidden].
void layernorm_apply(ConstMatrix x, LayerNormStats stats, int hidden_global, ConstMatrix gamma,
                     ConstMatrix beta, double eps, Matrix y);

}  // namespace zoptimus

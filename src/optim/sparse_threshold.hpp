// Sparse-MeZO thresholds: per tensor, the (1 - sparsity) quantile of |theta| over the whole
// (partitioned) tensor, found exactly and identically on every mesh by bisection over the
// bit patterns of non-negative floats (monotone in value), one allreduce of counts per bit.
#pragma once

#include <cstdint>
#include <vector>

#include "model/parameter_store.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

// thresholds[k] is the smallest |theta| value h with count(|theta_k| <= h) >= ceil(keep * N_k),
// keep = 1 - sparsity. Only block owners count, so replicated blocks are counted once.
// Collective over the world (Axis::World of `comm`).
std::vector<float> sparse_thresholds(const ParameterStore& params, double sparsity,
                                     Collectives& comm);

// Entries with |theta| <= threshold, counted over owned blocks and summed over the world.
std::vector<std::int64_t> count_below(const ParameterStore& params,
                                      const std::vector<float>& thresholds, Collectives& comm);

}  // namespace zoptimus

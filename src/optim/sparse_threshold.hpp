// Sparse-MeZO thresholds: per tensor, the (1 - sparsity) quantile of |theta| over the whole
// (partitioned) tensor, found exactly and identically on every mesh by bisection over the
// bit patterns of non-negative floats (monotone in value), one allreduce of counts per bit.
#pragma once

#include <vector>

#include <mpi.h>

#include "model/parameter_store.hpp"

namespace zoptimus {

// thresholds[k] is the smallest |theta| value h with count(|theta_k| <= h) >= ceil(keep * N_k),
// keep = 1 - sparsity. Only block owners count, so replicated blocks are counted once.
// Collective over `world`.
std::vector<float> sparse_thresholds(const ParameterStore& params, double sparsity, MPI_Comm world);

// Entries with |theta| <= threshold, counted over owned blocks and summed over `world`.
std::vector<long long> count_below(const ParameterStore& params,
                                   const std::vector<float>& thresholds, MPI_Comm world);

}  // namespace zoptimus

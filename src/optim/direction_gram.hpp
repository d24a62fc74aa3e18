// Inner products of ZO directions: G[a][b] = z_a . z_b over every parameter entry, exactly,
// by regenerating the directions (never stored) in one pass over the parameters, summed over
// owned blocks and allreduced over the world: identical on every mesh.
#pragma once

#include <cstdint>
#include <vector>

#include "core/choices.hpp"
#include "model/parameter_store.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

inline constexpr int kMaxGramDirections = 32;

// dist: their distribution (kernels/perturbation.hpp); seeds: the directions; active[a][tensor id]:
// whether direction a lives on that tensor (empty: everywhere); thresholds: Sparse-MeZO masks
// evaluated on the current weights
// (+inf: dense). Returns the symmetric K x K matrix, row-major. Collective over the world
// (Axis::World of `comm`).
std::vector<double> direction_gram(const ParameterStore& params, Perturbation dist,
                                   const std::vector<std::uint64_t>& seeds,
                                   const std::vector<std::vector<char>>& active,
                                   const std::vector<float>& thresholds, Collectives& comm);

}  // namespace zoptimus

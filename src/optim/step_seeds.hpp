// Seeds of a ZO run: every random choice of step t (perturbation directions, LeZO layer
// subsets) is a function of (run seed, t, j) only, so any mesh and any restart reproduce it.
#pragma once

#include <cstdint>
#include <vector>

namespace zoptimus {

std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b);

// Seed of perturbation j of step t.
inline std::uint64_t perturbation_seed(std::uint64_t run_seed, std::int64_t step, int j) {
  return mix_seed(mix_seed(run_seed, static_cast<std::uint64_t>(step)),
                  static_cast<std::uint64_t>(j));
}

// LeZO: the decoder layers active at a step, sorted; `count` of `layers` drawn without
// replacement from the step seed.
std::vector<int> choose_active_layers(std::uint64_t step_seed, int layers, int count);

// The number of active layers from optim.active_layers (a count if >= 1, else a fraction).
int active_layer_count(double active_layers, int layers);

}  // namespace zoptimus

// Trajectory replay (MeZO's "seeds + projected gradients" checkpoint): from the initial
// weights and the logged steps (seeds, g, lr, LeZO subsets), re-apply every update with the
// same kernel the training used, giving the trained weights bit for bit on the same mesh.
#pragma once

#include <cstdint>
#include <vector>

#include "core/config.hpp"
#include "model/parameter_store.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

struct ReplayStep {
  std::int64_t step = 0;
  std::vector<std::uint64_t> seeds;
  std::vector<double> projected_grad;
  std::vector<int> active_layers;  // LeZO subset; empty = all
  double lr = 0;
  bool skipped = false;
  // Anderson: [anchor step, directions D, then D coefficients of x_{k+1} - x_k] over the
  // directions of steps anchor..step (n_perturb each, in order); empty for a plain step.
  std::vector<double> anderson;
};

// Optimizer state at the first replayed step, for runs that restarted from a checkpoint.
struct ReplayStart {
  std::vector<float> thresholds;             // Sparse-MeZO; empty: computed from the weights
  const ParameterStore* momentum = nullptr;  // nullptr: zero velocity
};

// Applies the steps in order to `params` (which must hold the weights the logged run started
// from). Sparse-MeZO thresholds come from `start` or, as the run did, from those weights.
// Directions of steps before the log (an Anderson window reaching back past a restart) are
// regenerated from the run seed, as the run generated them.
void replay_trajectory(const Config& config, const Mesh& mesh, ParameterStore& params,
                       const std::vector<ReplayStep>& steps, const ReplayStart& start = {});

}  // namespace zoptimus

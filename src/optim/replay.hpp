// Trajectory replay (MeZO's "seeds + projected gradients" checkpoint): from the initial
// weights and the logged steps (seeds, g, lr, LeZO subsets), re-apply every update with the
// same kernel the training used, giving the trained weights bit for bit on the same mesh.
#pragma once

#include <cstdint>
#include <vector>

#include "core/config.hpp"
#include "model/parameter_store.hpp"
#include "optim/step_record.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

// Optimizer state at the first replayed step, for runs that restarted from a checkpoint.
struct ReplayStart {
  std::vector<float> thresholds;             // Sparse-MeZO; empty: computed from the weights
  const ParameterStore* momentum = nullptr;  // nullptr: zero velocity
};

// Applies the steps in order (their seeds, projected_grad, lr, active_layers, skipped and
// anderson_coeffs) to `params` (which must hold the weights the logged run started
// from). Sparse-MeZO thresholds come from `start` or, as the run did, from those weights.
// Directions of steps before the log (an Anderson window reaching back past a restart) are
// regenerated from the run seed, as the run generated them.
void replay_trajectory(const Config& config, const Mesh& mesh, ParameterStore& params,
                       const std::vector<StepRecord>& steps, const ReplayStart& start = {});

}  // namespace zoptimus

// StepRecord: what one ZO step did, in one type for the three places that see it: the
// optimizer returns it (optim/zo_optimizer.hpp), the run log writes and reads it
// (io/run_log.hpp: every field but `seeds`, `tokens` and the times measured by the caller),
// and replay re-applies it (optim/replay.hpp: seeds, g, lr, layer subset, Anderson record).
#pragma once

#include <cstdint>
#include <vector>

namespace zoptimus {

struct StepRecord {
  std::int64_t step = 0;
  std::uint64_t seed = 0;            // seed of perturbation 0 (the others follow from it)
  std::vector<std::uint64_t> seeds;  // every perturbation's seed (the run log keeps only `seed`)
  std::vector<double> loss_plus, loss_minus, projected_grad;  // one per perturbation (n_perturb)
  std::vector<std::int32_t> active_layers;                    // LeZO subset (empty = all)
  // Anderson: [anchor step, directions D, then D coefficients of x_{k+1} - x_k] over the
  // directions of steps anchor..step (n_perturb each, in order); empty for a plain step.
  std::vector<double> anderson_coeffs;
  double lr = 0;
  double tokens = 0;     // target tokens (or sequences) seen, all replicas
  bool skipped = false;  // a loss was NaN/Inf: no update
  // Seconds, measured by the caller around the step (the run log's time fields).
  double step_seconds = 0, forward_seconds = 0, comm_seconds = 0, rng_seconds = 0,
         update_seconds = 0, io_seconds = 0;

  double loss() const {  // mean of (l+ + l-)/2 over perturbations
    double s = 0;
    for (std::size_t p = 0; p < loss_plus.size(); ++p) s += 0.5 * (loss_plus[p] + loss_minus[p]);
    return loss_plus.empty() ? 0.0 : s / static_cast<double>(loss_plus.size());
  }
};

}  // namespace zoptimus

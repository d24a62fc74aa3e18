// Trajectory replay (see replay.hpp).
#include "optim/replay.hpp"

#include <map>

#include "core/error.hpp"
#include "optim/sparse_threshold.hpp"
#include "optim/step_seeds.hpp"
#include "optim/zo_weights.hpp"

namespace zoptimus {

namespace {

// The directions of one step: from the log, or regenerated from the run seed exactly as the
// optimizer drew them (seeds per perturbation, LeZO layer subset).
struct StepDirections {
  std::vector<std::uint64_t> seeds;
  std::vector<int> layers;
  bool skipped = false;
};

}  // namespace

void replay_trajectory(const Config& config, const Mesh& mesh, ParameterStore& params,
                       const std::vector<StepRecord>& steps, const ReplayStart& start) {
  const OptimConfig& o = config.optim;
  CommStats stats;  // the threshold counts' allreduces; replay reports no traffic
  Collectives comm(mesh, stats);
  std::vector<float> thresholds = start.thresholds;
  if (o.method == ZoMethod::SparseMezo && thresholds.empty())
    thresholds = sparse_thresholds(params, o.sparsity, comm);
  ZoWeights weights(params, o.eps, o.weight_decay, o.momentum, std::move(thresholds),
                    o.perturbation);
  if (start.momentum && weights.velocity())
    for (const auto& t : params.tensors())
      Kokkos::deep_copy(weights.velocity()->data(t.id), start.momentum->data(t.id));

  auto layer_mask = [&](const std::vector<int>& layers) {
    std::vector<char> on(config.model.layers, 0), active;
    for (int l : layers) on[l] = 1;
    for (const auto& t : params.tensors()) active.push_back(t.layer < 0 || on[t.layer]);
    return active;
  };
  std::map<std::int64_t, const StepRecord*> logged;
  for (const StepRecord& s : steps) logged[s.step] = &s;
  const auto run_seed = static_cast<std::uint64_t>(config.run.seed);
  auto directions = [&](std::int64_t j) {
    StepDirections d;
    auto it = logged.find(j);
    if (it != logged.end()) {
      d.seeds = it->second->seeds;
      d.layers = it->second->active_layers;
      d.skipped = it->second->skipped;
      return d;
    }
    for (int p = 0; p < o.n_perturb; ++p) d.seeds.push_back(perturbation_seed(run_seed, j, p));
    if (o.method == ZoMethod::Lezo)
      d.layers = choose_active_layers(perturbation_seed(run_seed, j, -1), config.model.layers,
                                      active_layer_count(o.active_layers, config.model.layers));
    return d;
  };

  for (const StepRecord& s : steps) {
    if (o.method == ZoMethod::SparseMezo && o.sparse_refresh > 0 && s.step > 0 &&
        s.step % o.sparse_refresh == 0)  // as the run did, from the weights at this step
      weights.set_thresholds(sparse_thresholds(params, o.sparsity, comm));
    if (s.skipped) continue;
    ZoUpdate u;
    if (!s.anderson_coeffs.empty()) {
      // Anderson's update combines the directions of the (not skipped) steps since its anchor.
      const auto anchor = static_cast<std::int64_t>(s.anderson_coeffs[0]);
      const auto D = static_cast<std::size_t>(s.anderson_coeffs[1]);
      u.lr = 1.0;
      std::vector<StepDirections> window;
      bool subsets = false;
      for (std::int64_t j = anchor; j <= s.step; ++j) {
        StepDirections d = directions(j);
        if (d.skipped) continue;
        subsets = subsets || !d.layers.empty();
        for (std::uint64_t seed : d.seeds) u.seeds.push_back(seed);
        window.push_back(std::move(d));
      }
      if (u.seeds.size() != D || s.anderson_coeffs.size() != D + 2)
        fail("replay: Anderson record of step {} has {} coefficients for {} directions", s.step,
             s.anderson_coeffs.size() - 2, u.seeds.size());
      for (std::size_t d = 0; d < D; ++d) u.coeffs.push_back(-s.anderson_coeffs[2 + d]);
      if (subsets)
        for (const StepDirections& d : window)
          for (std::size_t p = 0; p < d.seeds.size(); ++p)
            u.seed_active.push_back(d.layers.empty() ? std::vector<char>(params.size(), 1)
                                                     : layer_mask(d.layers));
    } else {
      u.seeds = s.seeds;
      for (double g : s.projected_grad) u.coeffs.push_back(g / static_cast<double>(s.seeds.size()));
      u.lr = s.lr * o.anderson.beta;  // m = 0 with beta: plain steps of beta * lr
      if (!s.active_layers.empty()) u.active = layer_mask(s.active_layers);
    }
    weights.defer_update(std::move(u));
    weights.flush();
  }
}

}  // namespace zoptimus

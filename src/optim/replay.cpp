// Trajectory replay (see replay.hpp).
#include "optim/replay.hpp"

#include <map>

#include "core/error.hpp"

#include "optim/sparse_threshold.hpp"
#include "optim/zo_weights.hpp"

namespace zoptimus {

void replay_trajectory(const Config& config, const Mesh& mesh, ParameterStore& params,
                       const std::vector<ReplayStep>& steps) {
  const OptimConfig& o = config.optim;
  std::vector<float> thresholds;
  if (o.method == "sparse_mezo") thresholds = sparse_thresholds(params, o.sparsity, mesh.world());
  ZoWeights weights(params, o.eps, o.weight_decay, o.momentum, std::move(thresholds));
  auto layer_mask = [&](const std::vector<int>& layers) {
    std::vector<char> on(config.model.layers, 0), active;
    for (int l : layers) on[l] = 1;
    for (const auto& t : params.tensors()) active.push_back(t.layer < 0 || on[t.layer]);
    return active;
  };
  std::map<std::int64_t, const ReplayStep*> by_step;
  for (const ReplayStep& s : steps) by_step[s.step] = &s;
  for (const ReplayStep& s : steps) {
    if (o.method == "sparse_mezo" && o.sparse_refresh > 0 && s.step > 0 &&
        s.step % o.sparse_refresh == 0)  // as the run did, from the weights at this step
      weights.set_thresholds(sparse_thresholds(params, o.sparsity, mesh.world()));
    if (s.skipped) continue;
    if (!s.anderson.empty()) {
      // Anderson's update is a combination of the directions since its anchor.
      const auto anchor = static_cast<std::int64_t>(s.anderson[0]);
      const auto D = static_cast<std::size_t>(s.anderson[1]);
      ZoUpdate u;
      u.lr = 1.0;
      bool subsets = false;
      for (std::int64_t j = anchor; j <= s.step; ++j) {
        auto it = by_step.find(j);
        if (it == by_step.end())
          fail("replay: Anderson step {} refers to step {}, which the log does not hold", s.step,
               j);
        subsets = subsets || !it->second->active_layers.empty();
        for (std::uint64_t seed : it->second->seeds) u.seeds.push_back(seed);
      }
      if (u.seeds.size() != D || s.anderson.size() != D + 2)
        fail("replay: Anderson record of step {} has {} coefficients for {} directions", s.step,
             s.anderson.size() - 2, u.seeds.size());
      for (std::size_t d = 0; d < D; ++d) u.coeffs.push_back(-s.anderson[2 + d]);
      if (subsets)
        for (std::int64_t j = anchor; j <= s.step; ++j)
          for (std::size_t p = 0; p < by_step[j]->seeds.size(); ++p)
            u.seed_active.push_back(by_step[j]->active_layers.empty()
                                        ? std::vector<char>(params.size(), 1)
                                        : layer_mask(by_step[j]->active_layers));
      weights.defer_update(std::move(u));
      weights.flush();
      continue;
    }
    ZoUpdate u;
    u.seeds = s.seeds;
    for (double g : s.projected_grad) u.coeffs.push_back(g / static_cast<double>(s.seeds.size()));
    u.lr = s.lr * o.anderson.beta;  // m = 0 with beta: plain steps of beta * lr
    if (!s.active_layers.empty()) u.active = layer_mask(s.active_layers);
    weights.defer_update(std::move(u));
    weights.flush();
  }
}

}  // namespace zoptimus

// Trajectory replay (see replay.hpp).
#include "optim/replay.hpp"

#include "optim/sparse_threshold.hpp"
#include "optim/zo_weights.hpp"

namespace zoptimus {

void replay_trajectory(const Config& config, const Mesh& mesh, ParameterStore& params,
                       const std::vector<ReplayStep>& steps) {
  const OptimConfig& o = config.optim;
  std::vector<float> thresholds;
  if (o.method == "sparse_mezo") thresholds = sparse_thresholds(params, o.sparsity, mesh.world());
  ZoWeights weights(params, o.eps, o.weight_decay, o.momentum, std::move(thresholds));
  for (const ReplayStep& s : steps) {
    if (s.skipped) continue;
    ZoUpdate u;
    u.seeds = s.seeds;
    for (double g : s.projected_grad) u.coeffs.push_back(g / static_cast<double>(s.seeds.size()));
    u.lr = s.lr;
    if (!s.active_layers.empty()) {
      std::vector<char> layer_on(config.model.layers, 0);
      for (int l : s.active_layers) layer_on[l] = 1;
      for (const auto& t : params.tensors()) u.active.push_back(t.layer < 0 || layer_on[t.layer]);
    }
    weights.defer_update(std::move(u));
    weights.flush();
  }
}

}  // namespace zoptimus

// Distributed LayerNorm (see layer_norm.hpp).
#include "model/layers/layer_norm.hpp"

namespace zoptimus {

DistributedLayerNorm::DistributedLayerNorm(LayerContext ctx, int tokens, int hidden, double eps)
    : ctx_(ctx),
      hidden_(hidden),
      eps_(eps),
      stats_(LayerNormStats("zoptimus::act::ln_stats", tokens, 2)) {}

void DistributedLayerNorm::apply(ConstMatrix x, ConstMatrix gamma, ConstMatrix beta, Matrix y) {
  layernorm_partial_stats(x, stats_);
  if (ctx_.two_d()) {
    ctx_.comm.allreduce_sum(Axis::Row, stats_.data(), stats_.size());
  }
  layernorm_apply(x, stats_, hidden_, gamma, beta, eps_, y);
}

void DistributedLayerNorm::forward(WeightSource& w, int gamma_id, int beta_id, int n,
                                   const PerStream<Matrix>& x, const PerStream<Matrix>& y) {
  const BlockPair gamma = w.blocks(gamma_id);
  const BlockPair beta = w.blocks(beta_id);  // sources keep the last two pairs valid
  for (int s = 0; s < n; ++s) apply(x[s], gamma[s], beta[s], y[s]);
}

std::int64_t DistributedLayerNorm::bytes() const {
  return static_cast<std::int64_t>(stats_.size() * sizeof(LayerNormStats::value_type));
}

}  // namespace zoptimus

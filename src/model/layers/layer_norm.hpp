// LayerNorm over a hidden dimension that the 2D mesh splits by column: each rank sums its
// slice per token, an allreduce along the row completes the statistics (1D: hidden is whole,
// no communication).
#pragma once

#include <cstdint>

#include "core/types.hpp"
#include "kernels/layernorm.hpp"
#include "model/layers/layer_context.hpp"

namespace zoptimus {

class DistributedLayerNorm {
 public:
  // tokens: local tokens per stream; hidden: the global hidden size.
  DistributedLayerNorm(LayerContext ctx, int tokens, int hidden, double eps);

  // y = LayerNorm(x) * gamma + beta for one stream.
  void apply(ConstMatrix x, ConstMatrix gamma, ConstMatrix beta, Matrix y);
  // The first n streams, fetching gamma and beta once.
  void forward(WeightSource& w, int gamma_id, int beta_id, int n, const PerStream<Matrix>& x,
               const PerStream<Matrix>& y);

  std::int64_t bytes() const;  // the per-token statistics (shared by the streams)

 private:
  LayerContext ctx_;
  int hidden_;
  double eps_;
  LayerNormStats stats_;
};

}  // namespace zoptimus

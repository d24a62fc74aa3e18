// Token embedding with the [V, h] table split by vocabulary (and, in 2D, hidden by column):
// each rank looks up every token of the replica in the rows it holds (zero elsewhere), then
// 2D: a reduce-scatter down the column sums the vocabulary blocks and leaves each mesh row its
//     batch block, [b/q * s, h/q];
// 1D: an allreduce along the row completes the replicated [b * s, h].
#pragma once

#include <cstdint>

#include "core/types.hpp"
#include "model/batch.hpp"
#include "model/layers/layer_context.hpp"
#include "model/parameter_store.hpp"

namespace zoptimus {

class VocabParallelEmbedding {
 public:
  // batch, seq: the replica's micro-batch; local_hidden: the hidden columns of this rank.
  VocabParallelEmbedding(LayerContext ctx, int batch, int seq, int local_hidden);

  // x = embedding of this rank's tokens; table is this rank's block of the tensor `info`.
  void forward(const Batch& batch, ConstMatrix table, const TensorInfo& info, Matrix x);

  std::int64_t bytes() const;  // token ids and the partial lookup (shared by the streams)

 private:
  LayerContext ctx_;
  int batch_, seq_;
  TokenVector tokens_;
  Matrix partial_;
};

}  // namespace zoptimus

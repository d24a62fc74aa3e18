// The classification head (MeZO style): at each sequence's last position, logits over the
// label words only, as dot products of the final hidden state with the label words' rows of a
// [V, h] table (OPT: the tied embedding); cross-entropy and accuracy over those L logits.
// The table is split like the token embedding (vocabulary by mesh row in 2D, by rank in 1D;
// hidden by column in 2D), so only L rows cross to the host and the vocabulary is never formed.
#pragma once

#include "core/types.hpp"
#include "model/batch.hpp"
#include "model/layers/layer_context.hpp"
#include "model/parameter_store.hpp"

namespace zoptimus {

class ClassificationHead {
 public:
  // local_batch: sequences of this rank (the mesh row's batch block); seq: their length.
  ClassificationHead(LayerContext ctx, int local_batch, int seq)
      : ctx_(ctx), local_batch_(local_batch), seq_(seq) {}

  // Loss sums of one stream (sequences with label < 0 are skipped), reduced over the mesh
  // and the replicas. hidden: [local tokens, local hidden]; table: this rank's block of `info`.
  LossSums loss(const Batch& batch, ConstMatrix hidden, ConstMatrix table, const TensorInfo& info);

 private:
  LayerContext ctx_;
  int local_batch_, seq_;
};

}  // namespace zoptimus

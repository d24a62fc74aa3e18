// The language-model head: logits = h E^T against this rank's block of a [V, h] table (OPT
// ties it to the token embedding; an untied family passes its own head tensor), and the mean
// next-token cross-entropy over the vocab-parallel logits.
// 2D: the logits block is [local tokens, V/q], vocabulary block `col`; 1D: [b * s, V/t].
// The loss forms that block in chunks of tokens and consumes each chunk at once, so only a
// [chunk, local vocab] buffer exists (docs/design.md, "LM head").
#pragma once

#include "core/types.hpp"
#include "model/batch.hpp"
#include "model/layers/layer_context.hpp"
#include "model/layers/parallel_linear.hpp"
#include "model/layers/vocab_parallel_cross_entropy.hpp"

namespace zoptimus {

class LmHead {
 public:
  LmHead(LayerContext ctx, ParallelLinear& linear) : ctx_(ctx), linear_(linear) {}

  // The whole logits block at once (tests and inspection; the loss never needs it).
  void logits(ConstMatrix hidden, ConstMatrix table, Matrix logits) {
    linear_.matmul_transposed(hidden, table, logits);
  }

  // Loss sums of one stream over its targets, reduced over the mesh and the replicas.
  // chunk: [rows, local padded vocab], where each chunk of `rows` tokens' logits is formed
  // and consumed. token_offset: the first of this rank's tokens in the batch;
  // vocab_offset/valid_vocab: the global vocabulary columns of the logits block (the rest is
  // padding).
  LossSums loss(ConstMatrix hidden, ConstMatrix table, const Batch& batch, int token_offset,
                int vocab_offset, int valid_vocab, Matrix chunk, CrossEntropyBuffers& ws);

 private:
  LayerContext ctx_;
  ParallelLinear& linear_;
};

}  // namespace zoptimus

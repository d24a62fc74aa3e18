// Next-token cross-entropy over logits whose vocabulary is split along the mesh row: the
// per-token max, sum of exponentials and target logit are reduced along the row, so the
// whole vocabulary never sits on one rank. The logits may arrive in chunks of tokens (the LM
// head forms them chunk by chunk): each chunk leaves per-token partials over the local
// vocabulary, and one set of row reductions for all tokens finishes them.
#pragma once

#include <cstdint>
#include <string>

#include "core/types.hpp"
#include "kernels/cross_entropy.hpp"
#include "model/batch.hpp"
#include "model/layers/layer_context.hpp"

namespace zoptimus {

// Per-token workspace of one stream: targets, and the local max (kept for the rescale), the
// row max, sum of exponentials and target logit.
struct CrossEntropyBuffers {
  TokenVector targets;
  TokenValues local_max, max, sumexp, target;

  CrossEntropyBuffers() = default;
  CrossEntropyBuffers(const std::string& prefix, int tokens);
  std::int64_t bytes() const;
};

// Loads this rank's tokens' targets (one per token of the buffers; < 0 = no target).
void ce_load_targets(const int* targets, CrossEntropyBuffers& ws);
// Partials of tokens [first_row, first_row + rows) from their logits [rows, local vocab], of
// which columns [0, valid_vocab) are the global vocabulary columns starting at vocab_offset:
// the max over the local columns, the sum of exp(l - that max), the target's logit if local.
void ce_accumulate_rows(ConstMatrix rows, int first_row, int vocab_offset, int valid_vocab,
                        CrossEntropyBuffers& ws);
// After every token's partials: the row max (MAX along the row), each rank's sum rescaled
// to it (sum * exp(local max - max)), then the sums and target logits (SUM along the row):
// three row collectives of one value per token. Returns this rank's sum over its tokens of
// -log softmax(logits)[target] and the count of tokens with a target; not yet reduced over
// the mesh rows or the replicas.
LossSums ce_reduce_rows(LayerContext ctx, CrossEntropyBuffers& ws);

// The three steps over a whole logits block [tokens, local vocab].
LossSums vocab_parallel_cross_entropy(LayerContext ctx, ConstMatrix logits, const int* targets,
                                      int vocab_offset, int valid_vocab, CrossEntropyBuffers& ws);

}  // namespace zoptimus

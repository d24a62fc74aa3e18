// Next-token cross-entropy over logits whose vocabulary is split along the mesh row: the
// per-token max, sum of exponentials and target logit are reduced along the row, so the
// whole vocabulary never sits on one rank.
#pragma once

#include <cstdint>
#include <string>

#include "core/types.hpp"
#include "kernels/cross_entropy.hpp"
#include "model/batch.hpp"
#include "model/layers/layer_context.hpp"

namespace zoptimus {

// Per-token workspace of one stream.
struct CrossEntropyBuffers {
  TokenVector targets;
  TokenValues max, sumexp, target;

  CrossEntropyBuffers() = default;
  CrossEntropyBuffers(const std::string& prefix, int tokens);
  std::int64_t bytes() const;
};

// Sum over this rank's tokens of -log softmax(logits)[target] and the count of tokens with a
// target (targets < 0 are ignored); not yet reduced over the mesh rows or the replicas.
// logits: [tokens, local vocab], of which columns [0, valid_vocab) are the global vocabulary
// columns starting at vocab_offset; targets: this rank's tokens' targets (tokens entries).
LossSums vocab_parallel_cross_entropy(LayerContext ctx, ConstMatrix logits, const int* targets,
                                      int vocab_offset, int valid_vocab, CrossEntropyBuffers& ws);

}  // namespace zoptimus

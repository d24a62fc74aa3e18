// Completes a loss head's per-rank sums: rows of the 2D mesh hold different sequences (every
// column of a row the same values), replicas hold different micro-batches.
#pragma once

#include "model/batch.hpp"
#include "model/layers/layer_context.hpp"

namespace zoptimus {

LossSums reduce_loss_sums(LayerContext ctx, const LossSums& local);

}  // namespace zoptimus

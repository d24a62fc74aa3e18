// Vocab-parallel cross-entropy pieces. With the vocabulary split across ranks, the loss of a
// token is log(sum_v exp(l_v - m)) + m - l_target where m = max_v l_v: each rank computes
// its partial max / sum (against its own max) / target logit, and the caller reduces them
// (MAX; each sum rescaled to the reduced max; SUM, SUM).
#pragma once

#include "core/types.hpp"

namespace zoptimus {

using TokenValues = Kokkos::View<float*, MemSpace>;

// Row maxima over the first valid_cols columns (the rest are vocabulary padding).
void ce_partial_max(ConstMatrix logits, int valid_cols, TokenValues max);
// Row sums of exp(l - max) over valid columns.
void ce_partial_sumexp(ConstMatrix logits, int valid_cols, TokenValues max, TokenValues sumexp);
// The target's logit when held locally (targets(t) - vocab_offset in [0, valid_cols)), else 0.
void ce_partial_target(ConstMatrix logits, ConstTokenVector targets, int vocab_offset,
                       int valid_cols, TokenValues target_logit);
// sumexp(t) *= exp(local_max(t) - max(t)): a sum of exp(l - local max) becomes one against
// the row's max (max >= local_max; a rank without valid columns has sum 0 and stays 0).
void ce_rescale_sumexp(TokenValues local_max, TokenValues max, TokenValues sumexp);

}  // namespace zoptimus

// Language-model head (see lm_head.hpp).
#include "model/layers/lm_head.hpp"

#include "model/layers/loss_reduction.hpp"

namespace zoptimus {

LossSums LmHead::loss(ConstMatrix hidden, ConstMatrix table, const Batch& batch, int token_offset,
                      int vocab_offset, int valid_vocab, Matrix chunk, CrossEntropyBuffers& ws) {
  ce_load_targets(batch.targets.data() + token_offset, ws);
  linear_.matmul_transposed_chunked(hidden, table, chunk, [&](int first_row, ConstMatrix rows) {
    ce_accumulate_rows(rows, first_row, vocab_offset, valid_vocab, ws);
  });
  return reduce_loss_sums(ctx_, ce_reduce_rows(ctx_, ws));
}

}  // namespace zoptimus

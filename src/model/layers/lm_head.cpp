// Language-model head (see lm_head.hpp).
#include "model/layers/lm_head.hpp"

#include "model/layers/loss_reduction.hpp"

namespace zoptimus {

LossSums LmHead::loss(ConstMatrix logits, const Batch& batch, int token_offset, int vocab_offset,
                      int valid_vocab, CrossEntropyBuffers& ws) {
  const LossSums local = vocab_parallel_cross_entropy(
      ctx_, logits, batch.targets.data() + token_offset, vocab_offset, valid_vocab, ws);
  return reduce_loss_sums(ctx_, local);
}

}  // namespace zoptimus

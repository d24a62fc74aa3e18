// Vocab-parallel token embedding (see vocab_parallel_embedding.hpp).
#include "model/layers/vocab_parallel_embedding.hpp"

#include "core/error.hpp"
#include "kernels/embedding.hpp"

namespace zoptimus {

VocabParallelEmbedding::VocabParallelEmbedding(LayerContext ctx, int batch, int seq,
                                               int local_hidden)
    : ctx_(ctx),
      batch_(batch),
      seq_(seq),
      tokens_(TokenVector("zoptimus::act::tokens", batch * seq)),
      partial_(Matrix("zoptimus::act::embed_partial", batch * seq, local_hidden)) {}

void VocabParallelEmbedding::forward(const Batch& batch, ConstMatrix table, const TensorInfo& info,
                                     Matrix x) {
  if (batch.batch != batch_ || batch.seq != seq_)
    fail("internal error: batch {}x{} given to a model built for {}x{}", batch.batch, batch.seq,
         batch_, seq_);
  auto tokens_host = Kokkos::create_mirror_view(tokens_);
  for (int i = 0; i < batch_ * seq_; ++i) tokens_host(i) = batch.tokens[i];
  Kokkos::deep_copy(tokens_, tokens_host);
  embedding_partial(tokens_, table, static_cast<int>(info.row_offset()),
                    static_cast<int>(info.valid_rows()), partial_);
  if (ctx_.two_d()) {
    // Sum over the vocab blocks of the column, scattering batch blocks to their rows.
    ctx_.comm.reduce_scatter_sum(Axis::Col, partial_.data(), x.data(), x.size());
  } else {
    Kokkos::deep_copy(x, partial_);
    ctx_.comm.allreduce_sum(Axis::Row, x.data(), x.size());
  }
}

std::int64_t VocabParallelEmbedding::bytes() const {
  return static_cast<std::int64_t>(tokens_.size() * sizeof(int) + partial_.size() * sizeof(float));
}

}  // namespace zoptimus

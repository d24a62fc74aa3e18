// estimate_memory (see memory_estimate.hpp). Doubles throughout: a deck may ask for more
// than an int can count (data.batch = 2^30), and the point is to say so before allocating.
#include "model/memory_estimate.hpp"

#include <algorithm>
#include <cmath>

namespace zoptimus {

MemoryEstimate estimate_memory(const ModelDims& d, const MeshShape& shape, double batch, double seq,
                               bool lm_head, double offload_cap) {
  constexpr double kFloat = 4, kInt = 4;
  const double rows = shape.rows(), cols = shape.cols(), ranks = shape.model_size();
  const bool two_d = shape.mode == MeshMode::TwoD;
  const double h = d.hidden, ffn = d.ffn, layers = d.layers;
  const double vocab_local = std::ceil(static_cast<double>(d.vocab) / cols);
  const double h_local = two_d ? h / cols : h;
  MemoryEstimate e;
  // The embedding and layer matrices are split over the model ranks; the position table and
  // the bias/LayerNorm vectors are split over the columns in 2D and replicated in 1D.
  const double split = static_cast<double>(d.vocab) * h + layers * (4 * h * h + 2 * h * ffn);
  const double positions = (d.max_positions + kPositionOffset) * h;
  const double vectors = layers * (3 * h + h + ffn + h + 4 * h) + 2 * h;
  e.parameters = kFloat * (split / ranks + (positions + vectors) / (two_d ? cols : 1.0));
  if (offload_cap >= 0) {
    // One layer's blocks (model/offload/) move between host masters and device slots. Its
    // vectors are split by column in 2D; in 1D the qkv and fc1 biases are split, the rest
    // replicated. What stays on the device: the embeddings and the final LayerNorm.
    const double layer_vectors =
        two_d ? (3 * h + h + ffn + h + 4 * h) / cols : (3 * h + ffn) / cols + 6 * h;
    const double layer = kFloat * ((4 * h * h + 2 * h * ffn) / ranks + layer_vectors);
    const double fit = offload_cap == 0 ? 3 : std::floor(offload_cap / layer);
    const double slots = std::max(3.0, std::min(fit, std::max(layers, 3.0)));
    e.host_parameters = layers * layer;
    e.parameters = kFloat * (static_cast<double>(d.vocab) * h / ranks +
                             (positions + 2 * h) / (two_d ? cols : 1.0));
    e.offload_slots = slots * layer;
  }
  // Per stream (transformer.cpp, allocate_stream): x, h, tmp, final, qkv, attn, ffn over this
  // rank's tokens, the targets and four cross-entropy vectors; shared: the embedding partial
  // sums over the replica's tokens, LayerNorm statistics, token ids, and (LM task) the
  // logits chunk [min(model.logits_chunk_tokens, tokens), local vocab].
  const double tokens = batch * seq / rows, replica_tokens = batch * seq;
  const double chunk = lm_head ? std::min(static_cast<double>(d.logits_chunk_tokens), tokens) : 0;
  const double stream =
      kFloat * tokens * (4 * h_local + 4 * h / cols + ffn / cols + 4) + kInt * tokens;
  const double shared = kFloat * (replica_tokens * h_local + 2 * tokens + chunk * vocab_local) +
                        kInt * replica_tokens;
  e.activations = 2 * stream + shared;
  // SUMMA slots (linalg/summa.cpp), only on a 2D mesh with q > 1 (else every GEMM is local):
  // A panels [tokens, K/q] (K = h or ffn), B panels the largest [K/q, N/q] weight block or
  // the head's [V/q, h/q] embedding block, the weight-stationary gathered [q tokens, K/q]
  // and partial [q tokens, N/q] (N up to 3h or ffn), or the head's [chunk, V/q] partial.
  if (two_d && cols > 1) {
    const double k_max = std::max(h, ffn), n_max = std::max(3 * h, ffn);
    const double a_panel = tokens * k_max / cols;
    const double b_panel = std::max(h * n_max / (cols * cols), vocab_local * h / cols);
    const double gathered = tokens * k_max;
    const double partial = std::max(tokens * n_max, chunk * vocab_local);
    e.summa_panels = kFloat * (2 * a_panel + 2 * b_panel + gathered + partial);
  }
  // ZO scratch (optim/zo_weights.cpp): a + and a - copy of every perturbed block at most,
  // plus the per-stream slot buffers of the largest block.
  const double largest = std::max({static_cast<double>(d.vocab) * h, 3 * h * h, h * ffn}) / ranks;
  e.zo_scratch = 2 * e.parameters + kFloat * 4 * largest;
  return e;
}

}  // namespace zoptimus

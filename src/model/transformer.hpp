// The partitioned OPT decoder forward pass on a 2D (Optimus) or 1D (Megatron) mesh.
//
// 2D: activations are [b/q * s, h/q] per rank (batch by mesh row, hidden by mesh column);
//     every linear layer is a SUMMA; LayerNorm allreduces per-token sums along the row; the
//     tied LM head is C = A B^T against the embedding blocks; the loss is vocab-parallel.
// 1D: activations are replicated [b * s, h]; QKV/fc1 column-parallel, out/fc2 row-parallel
//     with one allreduce each; embedding and loss vocab-parallel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/layernorm.hpp"
#include "linalg/summa.hpp"
#include "model/batch.hpp"
#include "model/model_dims.hpp"
#include "model/weight_source.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

// Which SUMMA variant the 2D linear layers use: per GEMM by moved bytes (Auto), or forced.
enum class SummaChoice { Auto, Standard, WeightStationary };
SummaChoice parse_summa_choice(const std::string& name);

// Accumulated time (seconds) spent in the parts of the forward pass.
struct ForwardTimes {
  double gemm = 0;   // local GEMMs inside linear layers and the head (includes SUMMA waits)
  double other = 0;  // everything else
  std::int64_t gemm_flops = 0;
};

class Transformer {
 public:
  // Allocates parameters and all activation buffers for micro-batches of `batch` sequences
  // (per replica) of length `seq`.
  Transformer(const ModelDims& dims, const Mesh& mesh, Collectives& comm, int batch, int seq,
              SummaChoice summa = SummaChoice::Auto);

  ParameterStore& params() { return params_; }
  const ParameterStore& params() const { return params_; }
  const ModelDims& dims() const { return dims_; }

  // Runs the decoder on the replica's batch; leaves the final hidden states (after the final
  // LayerNorm) in hidden(): [local tokens, local hidden].
  void forward(const Batch& batch, WeightSource& weights);
  ConstMatrix hidden() const { return final_; }

  // Tied LM head into logits(): [local tokens, local padded vocab].
  void compute_logits(WeightSource& weights);
  ConstMatrix logits() const { return logits_; }

  // Mean next-token cross-entropy over the targets (reduced over the mesh and replicas).
  LossSums lm_loss(const Batch& batch, WeightSource& weights);
  // CE over the label-word logits at each sequence's last position, and accuracy.
  LossSums classification_loss(const Batch& batch, WeightSource& weights);

  // Which global rows/columns this rank's activations and logits cover.
  int local_tokens() const { return local_tokens_; }
  int token_offset() const { return token_offset_; }
  // Logits columns: in 2D the head's output block is vocab block `col` (the embedding rows
  // this rank holds are block `row`); in 1D both are block `col`.
  int vocab_offset() const;
  int valid_vocab() const;  // logits columns that are not padding

  // Activation buffers of the forward pass (they shrink as 1/q^2 in 2D, except the
  // [b*s, h/q] embedding partial), and the SUMMA communication panels (double-buffered
  // blocks of activations and weights in flight), reported separately.
  std::int64_t activation_bytes() const;
  std::int64_t comm_buffer_bytes() const { return static_cast<std::int64_t>(summa_ws_.bytes()); }
  const ForwardTimes& times() const { return times_; }
  void reset_times() { times_ = ForwardTimes{}; }

 private:
  bool two_d() const { return mesh_.shape().mode == MeshMode::TwoD; }
  void embed(const Batch& batch, WeightSource& w);
  void layernorm(ConstMatrix x, int gamma_id, int beta_id, WeightSource& w, Matrix y);
  // y = x W (+ b). In 1D, row_parallel selects the allreduce-after-GEMM form.
  void linear(ConstMatrix x, int weight_id, int bias_id, WeightSource& w, Matrix y,
              bool row_parallel, bool activation);
  LossSums reduce_loss(double sum, double count, double correct);
  int id(int layer, const char* name) const;
  // The embedding rows (vocabulary) this rank holds.
  int embed_vocab_offset() const;
  int embed_valid_vocab() const;

  ModelDims dims_;
  const Mesh& mesh_;
  Collectives& comm_;
  int batch_, seq_;
  int local_batch_, local_tokens_, token_offset_;
  SummaChoice summa_choice_;
  ParameterStore params_;
  std::vector<int> layer_ids_;  // [layer * 12 + k]: ids of the 12 tensors of a layer

  // Activations, allocated once.
  Matrix x_, h_, qkv_, attn_, tmp_, ffn_, final_, logits_, embed_partial_;
  LayerNormStats ln_stats_;
  TokenVector tokens_, targets_;
  TokenValues ce_max_, ce_sum_, ce_target_;
  SummaWorkspace summa_ws_;
  ForwardTimes times_;
};

}  // namespace zoptimus

// The partitioned OPT decoder forward pass on a 2D (Optimus) or 1D (Megatron) mesh: the OPT
// family's assembly of the distributed blocks in model/layers/ (docs/design.md, "Model").
//
// 2D: activations are [b/q * s, h/q] per rank (batch by mesh row, hidden by mesh column);
//     every linear layer is a SUMMA; LayerNorm allreduces per-token sums along the row; the
//     tied LM head is C = A B^T against the embedding blocks; the loss is vocab-parallel.
// 1D: activations are replicated [b * s, h]; QKV/fc1 column-parallel, out/fc2 row-parallel
//     with one allreduce each; embedding and loss vocab-parallel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "core/workspace_registry.hpp"
#include "model/batch.hpp"
#include "model/layers/classification_head.hpp"
#include "model/layers/forward_times.hpp"
#include "model/layers/layer_context.hpp"
#include "model/layers/layer_norm.hpp"
#include "model/layers/lm_head.hpp"
#include "model/layers/parallel_linear.hpp"
#include "model/layers/vocab_parallel_cross_entropy.hpp"
#include "model/layers/vocab_parallel_embedding.hpp"
#include "model/model_dims.hpp"
#include "model/weight_source.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

// SummaChoice (core/choices.hpp): which SUMMA variant the 2D linear layers use, per GEMM
// by moved bytes (Auto) or forced.

class Transformer {
 public:
  // Allocates parameters and the activation buffers of one stream for micro-batches of
  // `batch` sequences (per replica) of length `seq`; a second stream's buffers are
  // allocated on the first two-stream forward. `placement`: where the decoder layers'
  // parameters live (host memory when they are offloaded: model/offload/).
  Transformer(const ModelDims& dims, const Mesh& mesh, Collectives& comm, int batch, int seq,
              SummaChoice summa = SummaChoice::Auto,
              ParameterPlacement placement = ParameterPlacement::Device);

  ParameterStore& params() { return params_; }
  const ParameterStore& params() const { return params_; }
  const ModelDims& dims() const { return dims_; }
  const Mesh& mesh() const { return mesh_; }

  // Runs the decoder on one batch per stream (batches.size() == weights.streams()); the
  // streams pass through each layer together, so each weight block is fetched once for all
  // of them. Leaves the final hidden states (after the final LayerNorm) in hidden(stream).
  void forward(const std::vector<const Batch*>& batches, WeightSource& weights);
  void forward(const Batch& batch, WeightSource& weights) { forward({&batch}, weights); }
  ConstMatrix hidden(int stream = 0) const { return act_[stream].final_; }

  // Tied LM head of the last forward into logits(stream): [local tokens, local padded vocab],
  // allocated on first use (counted as activations). For tests and inspection: the losses
  // below never form the whole block.
  void compute_logits(WeightSource& weights);
  ConstMatrix logits(int stream = 0) const { return act_[stream].logits; }

  // Forward + loss per stream, reduced over the mesh and the data-parallel replicas.
  // LM: mean next-token cross-entropy, the tied head's logits formed and consumed in chunks of
  // logits_chunk_rows() tokens in one [rows, local padded vocab] buffer shared by the streams.
  // Classification: CE over the label-word logits at each sequence's last position, with
  // accuracy (the vocabulary logits are never formed).
  std::vector<LossSums> lm_loss(const std::vector<const Batch*>& batches, WeightSource& weights);
  std::vector<LossSums> classification_loss(const std::vector<const Batch*>& batches,
                                            WeightSource& weights);
  LossSums lm_loss(const Batch& batch, WeightSource& weights) {
    return lm_loss(std::vector<const Batch*>{&batch}, weights)[0];
  }
  LossSums classification_loss(const Batch& batch, WeightSource& weights) {
    return classification_loss(std::vector<const Batch*>{&batch}, weights)[0];
  }

  // Which global rows/columns this rank's activations and logits cover.
  int local_tokens() const { return local_tokens_; }
  int token_offset() const { return token_offset_; }
  // Logits columns: in 2D the head's output block is vocab block `col` (the embedding rows
  // this rank holds are block `row`); in 1D both are block `col`.
  int vocab_offset() const;
  int valid_vocab() const;  // logits columns that are not padding
  // Tokens per LM-head chunk: model.logits_chunk_tokens, at most local_tokens(); the chunk
  // buffer's bytes (0 until the first lm_loss allocates it).
  int logits_chunk_rows() const {
    return std::max(1, std::min(dims_.logits_chunk_tokens, local_tokens_));
  }
  std::int64_t logits_chunk_bytes() const {
    return static_cast<std::int64_t>(logits_chunk_.size() * sizeof(float));
  }

  // Activation buffers of the forward pass, for the streams allocated so far (they shrink as
  // 1/q^2 in 2D, except the [b*s, h/q] embedding partial) and the logits chunk (plus whole
  // logits blocks if compute_logits ran), and the SUMMA communication
  // panels (double-buffered blocks of activations and weights in flight), reported apart.
  std::int64_t activation_bytes() const;
  std::int64_t comm_buffer_bytes() const { return linear_.comm_buffer_bytes(); }
  const ForwardTimes& times() const { return times_; }
  void reset_times() { times_ = ForwardTimes{}; }

 private:
  // The activations of one stream, allocated once (logits: only by compute_logits).
  struct StreamBuffers {
    Matrix x, h, qkv, attn, tmp, ffn, final_, logits;
    CrossEntropyBuffers ce;
    bool allocated() const { return x.size() > 0; }
    std::int64_t bytes() const;
  };
  // One activation of the first n streams, for the blocks that run them together.
  static PerStream<Matrix> per_stream(StreamBuffers (&act)[kMaxStreams], Matrix StreamBuffers::*m);
  void allocate_stream(int s);
  int local_vocab() const;  // rows of this rank's embedding block: logits columns
  Matrix logits_chunk();    // allocated on first use
  // Validates the batch and sequence against the model and the mesh; the batch per mesh row.
  static int local_batch_of(const ModelDims& dims, const Mesh& mesh, int batch, int seq);

  ModelDims dims_;
  const Mesh& mesh_;
  int batch_, seq_;
  int local_batch_, local_tokens_, token_offset_;
  int streams_in_last_forward_ = 0;
  ParameterStore params_;
  std::vector<int> layer_ids_;  // [layer * 12 + k]: ids of the 12 tensors of a layer
  int embed_id_ = 0, positions_id_ = 0, final_ln_w_ = 0, final_ln_b_ = 0;

  ForwardTimes times_;
  LayerContext ctx_;
  ParallelLinear linear_;  // every linear layer and the LM head; owns the SUMMA panels
  DistributedLayerNorm norm_;
  VocabParallelEmbedding embedding_;
  LmHead lm_head_;
  ClassificationHead classification_head_;
  StreamBuffers act_[kMaxStreams];
  Matrix logits_chunk_;  // [logits chunk rows, local padded vocab], shared by the streams
  WorkspaceLease activations_lease_{WorkspacePurpose::Activations};
};

}  // namespace zoptimus

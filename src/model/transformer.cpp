// Partitioned OPT forward pass (see transformer.hpp): the OPT layer order over the blocks of
// model/layers/ (pre-LayerNorm, learned positions, ReLU/GELU MLP, tied LM head).
#include "model/transformer.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "kernels/attention.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"

namespace zoptimus {

namespace {
// The tensors of one decoder layer, in the order build_opt_parameters adds them.
enum LayerTensor {
  kAttnLnW,
  kAttnLnB,
  kQkvW,
  kQkvB,
  kOutW,
  kOutB,
  kMlpLnW,
  kMlpLnB,
  kFc1W,
  kFc1B,
  kFc2W,
  kFc2B,
  kLayerTensors
};
const char* kLayerNames[kLayerTensors] = {
    "attn_ln.weight", "attn_ln.bias", "qkv.weight", "qkv.bias", "out.weight", "out.bias",
    "mlp_ln.weight",  "mlp_ln.bias",  "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};

template <class View>
std::int64_t bytes_of(const View& v) {
  return static_cast<std::int64_t>(v.size() * sizeof(typename View::value_type));
}
}  // namespace

std::int64_t Transformer::StreamBuffers::bytes() const {
  return bytes_of(x) + bytes_of(h) + bytes_of(qkv) + bytes_of(attn) + bytes_of(tmp) +
         bytes_of(ffn) + bytes_of(final_) + bytes_of(logits) + ce.bytes();
}

PerStream<Matrix> Transformer::per_stream(StreamBuffers (&act)[kMaxStreams],
                                          Matrix StreamBuffers::*m) {
  PerStream<Matrix> out;
  for (int s = 0; s < kMaxStreams; ++s) out[s] = act[s].*m;
  return out;
}

int Transformer::local_batch_of(const ModelDims& dims, const Mesh& mesh, int batch, int seq) {
  if (seq > dims.max_positions)
    fail("sequence length {} is longer than model.max_positions = {}", seq, dims.max_positions);
  if (batch % mesh.rows() != 0)
    fail("batch {} is not divisible by the mesh rows {}", batch, mesh.rows());
  return batch / mesh.rows();
}

namespace {
int local_hidden(const ModelDims& dims, const Mesh& mesh) {
  return mesh.shape().mode == MeshMode::TwoD ? dims.hidden / mesh.cols() : dims.hidden;
}
}  // namespace

Transformer::Transformer(const ModelDims& dims, const Mesh& mesh, Collectives& comm, int batch,
                         int seq, SummaChoice summa, ParameterPlacement placement)
    : dims_(dims),
      mesh_(mesh),
      batch_(batch),
      seq_(seq),
      local_batch_(local_batch_of(dims, mesh, batch, seq)),
      local_tokens_(local_batch_ * seq),
      token_offset_(mesh.row() * local_tokens_),
      ctx_{mesh, comm},
      linear_(ctx_, summa, times_),
      norm_(ctx_, local_tokens_, dims.hidden, dims.layernorm_eps),
      // 2D: each rank looks up all tokens of the replica for its (vocab, hidden) block, then
      // a reduce-scatter down the column leaves each row its batch block.
      embedding_(ctx_, batch, seq, local_hidden(dims, mesh)),
      lm_head_(ctx_, linear_),
      classification_head_(ctx_, local_batch_, seq) {
  params_ = build_opt_parameters(dims, mesh.shape(), mesh.coords(), placement);
  for (int l = 0; l < dims.layers; ++l)
    for (int k = 0; k < kLayerTensors; ++k)
      layer_ids_.push_back(params_.info(fmt::format("layers.{}.{}", l, kLayerNames[k])).id);
  embed_id_ = params_.info("embed_tokens").id;
  positions_id_ = params_.info("embed_positions").id;
  final_ln_w_ = params_.info("final_ln.weight").id;
  final_ln_b_ = params_.info("final_ln.bias").id;
  if (dims.logits_chunk_tokens < 1)
    fail("model.logits_chunk_tokens = {} must be at least 1", dims.logits_chunk_tokens);
  allocate_stream(0);
}

void Transformer::allocate_stream(int s) {
  StreamBuffers& a = act_[s];
  if (a.allocated()) return;
  const int cols = mesh_.cols(), T = local_tokens_;
  const int h_loc = local_hidden(dims_, mesh_);
  const std::string p = fmt::format("zoptimus::act{}::", s);
  a.x = Matrix(p + "x", T, h_loc);
  a.h = Matrix(p + "h", T, h_loc);
  a.qkv = Matrix(p + "qkv", T, 3 * dims_.hidden / cols);
  a.attn = Matrix(p + "attn", T, dims_.hidden / cols);
  a.tmp = Matrix(p + "tmp", T, h_loc);
  a.ffn = Matrix(p + "ffn", T, dims_.ffn / cols);
  a.final_ = Matrix(p + "final", T, h_loc);
  a.ce = CrossEntropyBuffers(p, T);
  activations_lease_.set(activation_bytes());
}

int Transformer::local_vocab() const {
  return static_cast<int>(params_.info("embed_tokens").local_rows());
}

Matrix Transformer::logits_chunk() {
  if (logits_chunk_.size() == 0) {
    logits_chunk_ =
        Matrix(Kokkos::view_alloc(Kokkos::WithoutInitializing, "zoptimus::logits_chunk"),
               logits_chunk_rows(), local_vocab());
    activations_lease_.set(activation_bytes());
  }
  return logits_chunk_;
}

int Transformer::vocab_offset() const {
  return static_cast<int>(params_.info("embed_tokens").local_rows()) * mesh_.col();
}
int Transformer::valid_vocab() const {
  const int local = static_cast<int>(params_.info("embed_tokens").local_rows());
  return std::clamp(dims_.vocab - vocab_offset(), 0, local);
}

std::int64_t Transformer::activation_bytes() const {
  std::int64_t b = embedding_.bytes() + norm_.bytes() + logits_chunk_bytes();
  for (const auto& a : act_) b += a.bytes();
  return b;
}

void Transformer::forward(const std::vector<const Batch*>& batches, WeightSource& w) {
  const int n = static_cast<int>(batches.size());
  if (n != w.streams() || n < 1 || n > kMaxStreams)
    fail("internal error: {} batches for a weight source with {} streams", n, w.streams());
  for (int s = 0; s < n; ++s) allocate_stream(s);
  streams_in_last_forward_ = n;
  PhaseTimer total(phase::kForward);
  const double gemm_before = times_.gemm;
  w.begin_pass();
  using SB = StreamBuffers;
  const auto x = per_stream(act_, &SB::x), h = per_stream(act_, &SB::h),
             qkv = per_stream(act_, &SB::qkv), attn = per_stream(act_, &SB::attn),
             tmp = per_stream(act_, &SB::tmp), ffn = per_stream(act_, &SB::ffn),
             final_ = per_stream(act_, &SB::final_);
  const TensorInfo& table_info = params_.info("embed_tokens");
  {
    const BlockPair table = w.pass_blocks(embed_id_);
    for (int s = 0; s < n; ++s) embedding_.forward(*batches[s], table[s], table_info, x[s]);
    const BlockPair positions = w.blocks(positions_id_);
    for (int s = 0; s < n; ++s) add_positions(x[s], positions[s], seq_, kPositionOffset);
  }
  const int heads_loc = dims_.heads / mesh_.cols();
  for (int l = 0; l < dims_.layers; ++l) {
    auto L = [&](int k) { return layer_ids_[l * kLayerTensors + k]; };
    norm_.forward(w, L(kAttnLnW), L(kAttnLnB), n, x, h);
    linear_.forward(w, L(kQkvW), L(kQkvB), LinearSplit::Column, std::nullopt, n, h, qkv);
    for (int s = 0; s < n; ++s)
      causal_attention(qkv[s], local_batch_, seq_, heads_loc, dims_.head_dim, attn[s]);
    linear_.forward(w, L(kOutW), L(kOutB), LinearSplit::Row, std::nullopt, n, attn, tmp);
    for (int s = 0; s < n; ++s) add_inplace(x[s], tmp[s]);
    norm_.forward(w, L(kMlpLnW), L(kMlpLnB), n, x, h);
    linear_.forward(w, L(kFc1W), L(kFc1B), LinearSplit::Column, dims_.activation, n, h, ffn);
    linear_.forward(w, L(kFc2W), L(kFc2B), LinearSplit::Row, std::nullopt, n, ffn, tmp);
    for (int s = 0; s < n; ++s) add_inplace(x[s], tmp[s]);
  }
  norm_.forward(w, final_ln_w_, final_ln_b_, n, x, final_);
  times_.other += total.seconds() - (times_.gemm - gemm_before);
}

void Transformer::compute_logits(WeightSource& w) {
  // The LM head is tied to the token embedding.
  const BlockPair E = w.pass_blocks(embed_id_);
  for (int s = 0; s < streams_in_last_forward_; ++s) {
    Matrix& logits = act_[s].logits;
    if (logits.size() == 0) {
      logits = Matrix(fmt::format("zoptimus::act{}::logits", s), local_tokens_, local_vocab());
      activations_lease_.set(activation_bytes());
    }
    lm_head_.logits(act_[s].final_, E[s], logits);
  }
}

std::vector<LossSums> Transformer::lm_loss(const std::vector<const Batch*>& batches,
                                           WeightSource& w) {
  forward(batches, w);
  // The LM head is tied to the token embedding.
  const BlockPair E = w.pass_blocks(embed_id_);
  std::vector<LossSums> out;
  const int offset = vocab_offset(), valid = valid_vocab();
  for (std::size_t s = 0; s < batches.size(); ++s)
    out.push_back(lm_head_.loss(act_[s].final_, E[s], *batches[s], token_offset_, offset, valid,
                                logits_chunk(), act_[s].ce));
  return out;
}

std::vector<LossSums> Transformer::classification_loss(const std::vector<const Batch*>& batches,
                                                       WeightSource& w) {
  forward(batches, w);
  // The label words' rows come from the tied embedding.
  const BlockPair E = w.pass_blocks(embed_id_);
  const TensorInfo& table_info = params_.info("embed_tokens");
  std::vector<LossSums> out;
  for (std::size_t s = 0; s < batches.size(); ++s)
    out.push_back(classification_head_.loss(*batches[s], act_[s].final_, E[s], table_info));
  return out;
}

}  // namespace zoptimus

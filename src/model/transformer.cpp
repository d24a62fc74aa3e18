// Partitioned OPT forward pass (see transformer.hpp).
#include "model/transformer.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "kernels/attention.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"
#include "linalg/gemm.hpp"

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

std::int64_t bytes_of(const Matrix& m) {
  return static_cast<std::int64_t>(m.size()) * 4;
}
}  // namespace

SummaChoice parse_summa_choice(const std::string& name) {
  if (name == "standard") return SummaChoice::Standard;
  if (name == "weight_stationary") return SummaChoice::WeightStationary;
  return SummaChoice::Auto;
}

Transformer::Transformer(const ModelDims& dims, const Mesh& mesh, Collectives& comm, int batch,
                         int seq, SummaChoice summa)
    : dims_(dims), mesh_(mesh), comm_(comm), batch_(batch), seq_(seq), summa_choice_(summa) {
  if (seq > dims.max_positions)
    fail("sequence length {} is longer than model.max_positions = {}", seq, dims.max_positions);
  const int rows = mesh.rows(), cols = mesh.cols();
  if (batch % rows != 0) fail("batch {} is not divisible by the mesh rows {}", batch, rows);
  local_batch_ = batch / rows;
  local_tokens_ = local_batch_ * seq;
  token_offset_ = mesh.row() * local_tokens_;
  params_ = build_opt_parameters(dims, mesh.shape(), mesh.coords());
  for (int l = 0; l < dims.layers; ++l)
    for (int k = 0; k < kLayerTensors; ++k)
      layer_ids_.push_back(params_.info(fmt::format("layers.{}.{}", l, kLayerNames[k])).id);

  // Local widths: 2D splits hidden and ffn by column; 1D keeps hidden whole, splits heads/ffn.
  const int T = local_tokens_;
  const int h_loc = two_d() ? dims.hidden / cols : dims.hidden;
  const int qkv_loc = 3 * dims.hidden / cols;
  const int attn_loc = dims.hidden / cols;
  const int ffn_loc = dims.ffn / cols;
  const auto& embed = params_.info("embed_tokens");
  const int vocab_loc = static_cast<int>(two_d() ? embed.local_rows() : embed.local_rows());
  x_ = Matrix("zoptimus::act::x", T, h_loc);
  h_ = Matrix("zoptimus::act::h", T, h_loc);
  qkv_ = Matrix("zoptimus::act::qkv", T, qkv_loc);
  attn_ = Matrix("zoptimus::act::attn", T, attn_loc);
  tmp_ = Matrix("zoptimus::act::tmp", T, h_loc);
  ffn_ = Matrix("zoptimus::act::ffn", T, ffn_loc);
  final_ = Matrix("zoptimus::act::final", T, h_loc);
  logits_ = Matrix("zoptimus::act::logits", T, vocab_loc);
  // 2D: each rank looks up all tokens of the replica for its (vocab, hidden) block, then a
  // reduce-scatter down the column leaves each row its batch block.
  embed_partial_ = Matrix("zoptimus::act::embed_partial", batch * seq, h_loc);
  ln_stats_ = LayerNormStats("zoptimus::act::ln_stats", T, 2);
  tokens_ = TokenVector("zoptimus::act::tokens", batch * seq);
  targets_ = TokenVector("zoptimus::act::targets", T);
  ce_max_ = TokenValues("zoptimus::act::ce_max", T);
  ce_sum_ = TokenValues("zoptimus::act::ce_sum", T);
  ce_target_ = TokenValues("zoptimus::act::ce_target", T);
}

int Transformer::id(int layer, const char* name) const {
  for (int k = 0; k < kLayerTensors; ++k)
    if (std::string(kLayerNames[k]) == name) return layer_ids_[layer * kLayerTensors + k];
  fail("internal error: no layer tensor '{}'", name);
}

int Transformer::embed_vocab_offset() const {
  return static_cast<int>(params_.info("embed_tokens").row_offset());
}
int Transformer::embed_valid_vocab() const {
  return static_cast<int>(params_.info("embed_tokens").valid_rows());
}
int Transformer::vocab_offset() const {
  return static_cast<int>(params_.info("embed_tokens").local_rows()) * mesh_.col();
}
int Transformer::valid_vocab() const {
  const int local = static_cast<int>(params_.info("embed_tokens").local_rows());
  return std::clamp(dims_.vocab - vocab_offset(), 0, local);
}

std::int64_t Transformer::activation_bytes() const {
  std::int64_t b = bytes_of(x_) + bytes_of(h_) + bytes_of(qkv_) + bytes_of(attn_) + bytes_of(tmp_) +
                   bytes_of(ffn_) + bytes_of(final_) + bytes_of(logits_) + bytes_of(embed_partial_);
  b += static_cast<std::int64_t>(ln_stats_.size()) * 8 + (tokens_.size() + targets_.size()) * 4 +
       (ce_max_.size() + ce_sum_.size() + ce_target_.size()) * 4;
  return b;
}

void Transformer::embed(const Batch& batch, WeightSource& w) {
  if (batch.batch != batch_ || batch.seq != seq_)
    fail("internal error: batch {}x{} given to a model built for {}x{}", batch.batch, batch.seq,
         batch_, seq_);
  auto tokens_host = Kokkos::create_mirror_view(tokens_);
  for (int i = 0; i < batch_ * seq_; ++i) tokens_host(i) = batch.tokens[i];
  Kokkos::deep_copy(tokens_, tokens_host);

  const int embed_id = params_.info("embed_tokens").id;
  embedding_partial(tokens_, w.block(embed_id), embed_vocab_offset(), embed_valid_vocab(),
                    embed_partial_);
  Kokkos::fence();
  if (two_d()) {
    // Sum over the vocab blocks of the column, scattering batch blocks to their rows.
    comm_.reduce_scatter_sum(Axis::Col, embed_partial_.data(), x_.data(), x_.size());
  } else {
    Kokkos::deep_copy(x_, embed_partial_);
    comm_.allreduce_sum(Axis::Row, x_.data(), x_.size());
  }
  add_positions(x_, w.block(params_.info("embed_positions").id), seq_, kPositionOffset);
}

void Transformer::layernorm(ConstMatrix x, int gamma_id, int beta_id, WeightSource& w, Matrix y) {
  layernorm_partial_stats(x, ln_stats_);
  if (two_d()) {
    Kokkos::fence();
    comm_.allreduce_sum(Axis::Row, ln_stats_.data(), ln_stats_.size());
  }
  ConstMatrix gamma = w.block(gamma_id);
  ConstMatrix beta = w.block(beta_id);  // sources keep the last two blocks valid
  layernorm_apply(x, ln_stats_, dims_.hidden, gamma, beta, dims_.layernorm_eps, y);
}

void Transformer::linear(ConstMatrix x, int weight_id, int bias_id, WeightSource& w, Matrix y,
                         bool row_parallel, bool activation) {
  {
    Timer t;
    ConstMatrix W = w.block(weight_id);
    if (two_d()) {
      const int q = mesh_.rows();
      const std::int64_t M = static_cast<std::int64_t>(x.extent(0)) * q;
      const std::int64_t K = static_cast<std::int64_t>(x.extent(1)) * q;
      const std::int64_t N = static_cast<std::int64_t>(y.extent(1)) * q;
      SummaVariant v = summa_choice_ == SummaChoice::Standard ? SummaVariant::Standard
                       : summa_choice_ == SummaChoice::WeightStationary
                           ? SummaVariant::WeightStationary
                           : choose_summa_variant(M, N, K, q);
      summa_ab(comm_, v, x, W, y, summa_ws_);
    } else {
      gemm(Trans::No, Trans::No, 1.0f, x, W, 0.0f, y);
      if (row_parallel) {
        Kokkos::fence();
        comm_.allreduce_sum(Axis::Row, y.data(), y.size());
      }
    }
    times_.gemm += t.seconds();
    times_.gemm_flops += 2 * static_cast<std::int64_t>(x.extent(0)) * x.extent(1) * y.extent(1);
  }
  ConstMatrix b = w.block(bias_id);
  if (activation)
    add_bias_activation(y, b, dims_.activation);
  else
    add_bias(y, b);
}

void Transformer::forward(const Batch& batch, WeightSource& w) {
  Timer total;
  const double gemm_before = times_.gemm;
  embed(batch, w);
  const int heads_loc = dims_.heads / mesh_.cols();
  for (int l = 0; l < dims_.layers; ++l) {
    auto L = [&](int k) { return layer_ids_[l * kLayerTensors + k]; };
    layernorm(x_, L(kAttnLnW), L(kAttnLnB), w, h_);
    linear(h_, L(kQkvW), L(kQkvB), w, qkv_, false, false);
    causal_attention(qkv_, local_batch_, seq_, heads_loc, dims_.head_dim, attn_);
    linear(attn_, L(kOutW), L(kOutB), w, tmp_, true, false);
    add_inplace(x_, tmp_);
    layernorm(x_, L(kMlpLnW), L(kMlpLnB), w, h_);
    linear(h_, L(kFc1W), L(kFc1B), w, ffn_, false, true);
    linear(ffn_, L(kFc2W), L(kFc2B), w, tmp_, true, false);
    add_inplace(x_, tmp_);
  }
  layernorm(x_, params_.info("final_ln.weight").id, params_.info("final_ln.bias").id, w, final_);
  times_.other += total.seconds() - (times_.gemm - gemm_before);
}

void Transformer::compute_logits(WeightSource& w) {
  Timer t;
  ConstMatrix E = w.block(params_.info("embed_tokens").id);
  if (two_d())
    summa_abt(comm_, final_, E, logits_, summa_ws_);
  else
    gemm(Trans::No, Trans::Yes, 1.0f, final_, E, 0.0f, logits_);
  times_.gemm += t.seconds();
  times_.gemm_flops +=
      2 * static_cast<std::int64_t>(final_.extent(0)) * final_.extent(1) * logits_.extent(1);
}

LossSums Transformer::reduce_loss(double sum, double count, double correct) {
  double v[3] = {sum, count, correct};
  // Rows of the 2D mesh hold different sequences (every column of a row the same values),
  // replicas hold different micro-batches.
  if (two_d()) comm_.allreduce_sum(Axis::Col, v, 3);
  comm_.allreduce_sum(Axis::Dp, v, 3);
  return LossSums{v[0], v[1], v[2]};
}

LossSums Transformer::lm_loss(const Batch& batch, WeightSource& w) {
  forward(batch, w);
  compute_logits(w);
  auto targets_host = Kokkos::create_mirror_view(targets_);
  for (int t = 0; t < local_tokens_; ++t) targets_host(t) = batch.targets[token_offset_ + t];
  Kokkos::deep_copy(targets_, targets_host);

  const int valid = valid_vocab();
  ce_partial_max(logits_, valid, ce_max_);
  Kokkos::fence();
  comm_.allreduce_max(Axis::Row, ce_max_.data(), ce_max_.size());
  ce_partial_sumexp(logits_, valid, ce_max_, ce_sum_);
  ce_partial_target(logits_, targets_, vocab_offset(), valid, ce_target_);
  Kokkos::fence();
  comm_.allreduce_sum(Axis::Row, ce_sum_.data(), ce_sum_.size());
  comm_.allreduce_sum(Axis::Row, ce_target_.data(), ce_target_.size());

  auto mx = Kokkos::create_mirror_view_and_copy(HostSpace(), ce_max_);
  auto se = Kokkos::create_mirror_view_and_copy(HostSpace(), ce_sum_);
  auto tg = Kokkos::create_mirror_view_and_copy(HostSpace(), ce_target_);
  double sum = 0, count = 0;
  for (int t = 0; t < local_tokens_; ++t) {
    if (targets_host(t) < 0) continue;
    sum += std::log(static_cast<double>(se(t))) + mx(t) - tg(t);
    count += 1;
  }
  return reduce_loss(sum, count, 0);
}

LossSums Transformer::classification_loss(const Batch& batch, WeightSource& w) {
  forward(batch, w);
  const int L = static_cast<int>(batch.label_words.size());
  if (L < 2) fail("classification needs at least 2 label words, got {}", L);
  // Label-word rows of the tied embedding for this rank's hidden slice: each rank copies the
  // rows it holds, a sum over the ranks that split the vocabulary completes them.
  const int h_loc = static_cast<int>(final_.extent(1));
  auto E =
      Kokkos::create_mirror_view_and_copy(HostSpace(), w.block(params_.info("embed_tokens").id));
  std::vector<float> label_rows(static_cast<std::size_t>(L) * h_loc, 0.0f);
  const int v0 = embed_vocab_offset(), nv = embed_valid_vocab();
  for (int k = 0; k < L; ++k) {
    const int r = batch.label_words[k] - v0;
    if (r >= 0 && r < nv)
      for (int j = 0; j < h_loc; ++j) label_rows[k * h_loc + j] = E(r, j);
  }
  comm_.allreduce_sum(two_d() ? Axis::Col : Axis::Row, label_rows.data(), label_rows.size());

  // Partial logits over the local hidden slice for the local sequences; sum along the row
  // in 2D (hidden is split there). Only a few logits: the full vocabulary is never formed.
  auto H = Kokkos::create_mirror_view_and_copy(HostSpace(), final_);
  std::vector<float> logits(static_cast<std::size_t>(local_batch_) * L, 0.0f);
  for (int b = 0; b < local_batch_; ++b) {
    const int row = b * seq_ + batch.last_pos[mesh_.row() * local_batch_ + b];
    for (int k = 0; k < L; ++k) {
      double s = 0;
      for (int j = 0; j < h_loc; ++j)
        s += static_cast<double>(H(row, j)) * label_rows[k * h_loc + j];
      logits[b * L + k] = static_cast<float>(s);
    }
  }
  if (two_d()) comm_.allreduce_sum(Axis::Row, logits.data(), logits.size());
  double sum = 0, correct = 0;
  for (int b = 0; b < local_batch_; ++b) {
    const float* l = &logits[b * L];
    const int label = batch.labels[mesh_.row() * local_batch_ + b];
    int best = 0;
    double m = l[0];
    for (int k = 1; k < L; ++k)
      if (l[k] > m) m = l[k], best = k;
    double se = 0;
    for (int k = 0; k < L; ++k) se += std::exp(static_cast<double>(l[k]) - m);
    sum += std::log(se) + m - l[label];
    correct += best == label;
  }
  return reduce_loss(sum, local_batch_, correct);
}

}  // namespace zoptimus

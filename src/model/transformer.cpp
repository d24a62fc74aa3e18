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

template <class View>
std::int64_t bytes_of(const View& v) {
  return static_cast<std::int64_t>(v.size() * sizeof(typename View::value_type));
}
}  // namespace

std::int64_t Transformer::StreamBuffers::bytes() const {
  return bytes_of(x) + bytes_of(h) + bytes_of(qkv) + bytes_of(attn) + bytes_of(tmp) +
         bytes_of(ffn) + bytes_of(final_) + bytes_of(logits) + bytes_of(targets) +
         bytes_of(ce_max) + bytes_of(ce_sum) + bytes_of(ce_target);
}

Transformer::Transformer(const ModelDims& dims, const Mesh& mesh, Collectives& comm, int batch,
                         int seq, SummaChoice summa)
    : dims_(dims), mesh_(mesh), comm_(comm), batch_(batch), seq_(seq), summa_choice_(summa) {
  if (seq > dims.max_positions)
    fail("sequence length {} is longer than model.max_positions = {}", seq, dims.max_positions);
  if (batch % mesh.rows() != 0)
    fail("batch {} is not divisible by the mesh rows {}", batch, mesh.rows());
  local_batch_ = batch / mesh.rows();
  local_tokens_ = local_batch_ * seq;
  token_offset_ = mesh.row() * local_tokens_;
  params_ = build_opt_parameters(dims, mesh.shape(), mesh.coords());
  for (int l = 0; l < dims.layers; ++l)
    for (int k = 0; k < kLayerTensors; ++k)
      layer_ids_.push_back(params_.info(fmt::format("layers.{}.{}", l, kLayerNames[k])).id);
  embed_id_ = params_.info("embed_tokens").id;
  positions_id_ = params_.info("embed_positions").id;
  final_ln_w_ = params_.info("final_ln.weight").id;
  final_ln_b_ = params_.info("final_ln.bias").id;

  const int h_loc = two_d() ? dims.hidden / mesh.cols() : dims.hidden;
  // 2D: each rank looks up all tokens of the replica for its (vocab, hidden) block, then a
  // reduce-scatter down the column leaves each row its batch block.
  embed_partial_ = Matrix("zoptimus::act::embed_partial", batch * seq, h_loc);
  ln_stats_ = LayerNormStats("zoptimus::act::ln_stats", local_tokens_, 2);
  tokens_ = TokenVector("zoptimus::act::tokens", batch * seq);
  allocate_stream(0);
}

void Transformer::allocate_stream(int s) {
  StreamBuffers& a = act_[s];
  if (a.allocated()) return;
  const int cols = mesh_.cols(), T = local_tokens_;
  const int h_loc = two_d() ? dims_.hidden / cols : dims_.hidden;
  const int vocab_loc = static_cast<int>(params_.info("embed_tokens").local_rows());
  const std::string p = fmt::format("zoptimus::act{}::", s);
  a.x = Matrix(p + "x", T, h_loc);
  a.h = Matrix(p + "h", T, h_loc);
  a.qkv = Matrix(p + "qkv", T, 3 * dims_.hidden / cols);
  a.attn = Matrix(p + "attn", T, dims_.hidden / cols);
  a.tmp = Matrix(p + "tmp", T, h_loc);
  a.ffn = Matrix(p + "ffn", T, dims_.ffn / cols);
  a.final_ = Matrix(p + "final", T, h_loc);
  a.logits = Matrix(p + "logits", T, vocab_loc);
  a.targets = TokenVector(p + "targets", T);
  a.ce_max = TokenValues(p + "ce_max", T);
  a.ce_sum = TokenValues(p + "ce_sum", T);
  a.ce_target = TokenValues(p + "ce_target", T);
  activations_lease_.set(activation_bytes());
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
  std::int64_t b = bytes_of(embed_partial_) + bytes_of(ln_stats_) + bytes_of(tokens_);
  for (const auto& a : act_) b += a.bytes();
  return b;
}

void Transformer::embed(const Batch& batch, ConstMatrix table, StreamBuffers& a) {
  if (batch.batch != batch_ || batch.seq != seq_)
    fail("internal error: batch {}x{} given to a model built for {}x{}", batch.batch, batch.seq,
         batch_, seq_);
  auto tokens_host = Kokkos::create_mirror_view(tokens_);
  for (int i = 0; i < batch_ * seq_; ++i) tokens_host(i) = batch.tokens[i];
  Kokkos::deep_copy(tokens_, tokens_host);
  embedding_partial(tokens_, table, embed_vocab_offset(), embed_valid_vocab(), embed_partial_);
  if (two_d()) {
    // Sum over the vocab blocks of the column, scattering batch blocks to their rows.
    comm_.reduce_scatter_sum(Axis::Col, embed_partial_.data(), a.x.data(), a.x.size());
  } else {
    Kokkos::deep_copy(a.x, embed_partial_);
    comm_.allreduce_sum(Axis::Row, a.x.data(), a.x.size());
  }
}

void Transformer::layernorm(ConstMatrix x, ConstMatrix gamma, ConstMatrix beta, Matrix y) {
  layernorm_partial_stats(x, ln_stats_);
  if (two_d()) {
    comm_.allreduce_sum(Axis::Row, ln_stats_.data(), ln_stats_.size());
  }
  layernorm_apply(x, ln_stats_, dims_.hidden, gamma, beta, dims_.layernorm_eps, y);
}

void Transformer::all_layernorm(int n, Matrix StreamBuffers::*in, Matrix StreamBuffers::*out,
                                int gamma_id, int beta_id, WeightSource& w) {
  const BlockPair gamma = w.blocks(gamma_id);
  const BlockPair beta = w.blocks(beta_id);  // sources keep the last two pairs valid
  for (int s = 0; s < n; ++s) layernorm(act_[s].*in, gamma[s], beta[s], act_[s].*out);
}

void Transformer::matmul(ConstMatrix x, ConstMatrix W, Matrix y, bool row_parallel) {
  PhaseTimer t(phase::kGemm);
  if (two_d()) {
    if (summa_choice_ == SummaChoice::Auto)
      summa_ab(comm_, x, W, y, summa_ws_);  // the variant that moves fewer bytes
    else
      summa_ab(comm_,
               summa_choice_ == SummaChoice::Standard ? SummaVariant::Standard
                                                      : SummaVariant::WeightStationary,
               x, W, y, summa_ws_);
  } else {
    gemm(Trans::No, Trans::No, 1.0f, x, W, 0.0f, y);
    if (row_parallel) {
      comm_.allreduce_sum(Axis::Row, y.data(), y.size());
    }
  }
  times_.gemm += t.seconds();
  times_.gemm_flops += 2 * static_cast<std::int64_t>(x.extent(0)) * x.extent(1) * y.extent(1);
}

void Transformer::linear(int n, Matrix StreamBuffers::*in, Matrix StreamBuffers::*out,
                         int weight_id, int bias_id, WeightSource& w, bool row_parallel,
                         bool activation) {
  const BlockPair W = w.blocks(weight_id);
  for (int s = 0; s < n; ++s) matmul(act_[s].*in, W[s], act_[s].*out, row_parallel);
  const BlockPair b = w.blocks(bias_id);
  for (int s = 0; s < n; ++s) {
    if (activation)
      add_bias_activation(act_[s].*out, b[s], dims_.activation);
    else
      add_bias(act_[s].*out, b[s]);
  }
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
  {
    const BlockPair table = w.pass_blocks(embed_id_);
    for (int s = 0; s < n; ++s) embed(*batches[s], table[s], act_[s]);
    const BlockPair positions = w.blocks(positions_id_);
    for (int s = 0; s < n; ++s) add_positions(act_[s].x, positions[s], seq_, kPositionOffset);
  }
  const int heads_loc = dims_.heads / mesh_.cols();
  for (int l = 0; l < dims_.layers; ++l) {
    auto L = [&](int k) { return layer_ids_[l * kLayerTensors + k]; };
    all_layernorm(n, &SB::x, &SB::h, L(kAttnLnW), L(kAttnLnB), w);
    linear(n, &SB::h, &SB::qkv, L(kQkvW), L(kQkvB), w, false, false);
    for (int s = 0; s < n; ++s)
      causal_attention(act_[s].qkv, local_batch_, seq_, heads_loc, dims_.head_dim, act_[s].attn);
    linear(n, &SB::attn, &SB::tmp, L(kOutW), L(kOutB), w, true, false);
    for (int s = 0; s < n; ++s) add_inplace(act_[s].x, act_[s].tmp);
    all_layernorm(n, &SB::x, &SB::h, L(kMlpLnW), L(kMlpLnB), w);
    linear(n, &SB::h, &SB::ffn, L(kFc1W), L(kFc1B), w, false, true);
    linear(n, &SB::ffn, &SB::tmp, L(kFc2W), L(kFc2B), w, true, false);
    for (int s = 0; s < n; ++s) add_inplace(act_[s].x, act_[s].tmp);
  }
  all_layernorm(n, &SB::x, &SB::final_, final_ln_w_, final_ln_b_, w);
  times_.other += total.seconds() - (times_.gemm - gemm_before);
}

void Transformer::compute_logits(WeightSource& w) {
  const BlockPair E = w.pass_blocks(embed_id_);
  for (int s = 0; s < streams_in_last_forward_; ++s) {
    PhaseTimer t(phase::kGemm);
    StreamBuffers& a = act_[s];
    if (two_d())
      summa_abt(comm_, a.final_, E[s], a.logits, summa_ws_);
    else
      gemm(Trans::No, Trans::Yes, 1.0f, a.final_, E[s], 0.0f, a.logits);
    times_.gemm += t.seconds();
    times_.gemm_flops +=
        2 * static_cast<std::int64_t>(a.final_.extent(0)) * a.final_.extent(1) * a.logits.extent(1);
  }
}

LossSums Transformer::reduce_loss(double sum, double count, double correct) {
  double v[3] = {sum, count, correct};
  // Rows of the 2D mesh hold different sequences (every column of a row the same values),
  // replicas hold different micro-batches.
  if (two_d()) comm_.allreduce_sum(Axis::Col, v, 3);
  comm_.allreduce_sum(Axis::Dp, v, 3);
  return LossSums{v[0], v[1], v[2]};
}

std::vector<LossSums> Transformer::lm_loss(const std::vector<const Batch*>& batches,
                                           WeightSource& w) {
  forward(batches, w);
  compute_logits(w);
  std::vector<LossSums> out;
  const int valid = valid_vocab();
  for (std::size_t s = 0; s < batches.size(); ++s) {
    StreamBuffers& a = act_[s];
    auto targets_host = Kokkos::create_mirror_view(a.targets);
    for (int t = 0; t < local_tokens_; ++t)
      targets_host(t) = batches[s]->targets[token_offset_ + t];
    Kokkos::deep_copy(a.targets, targets_host);
    ce_partial_max(a.logits, valid, a.ce_max);
    comm_.allreduce_max(Axis::Row, a.ce_max.data(), a.ce_max.size());
    ce_partial_sumexp(a.logits, valid, a.ce_max, a.ce_sum);
    ce_partial_target(a.logits, a.targets, vocab_offset(), valid, a.ce_target);
    comm_.allreduce_sum(Axis::Row, a.ce_sum.data(), a.ce_sum.size());
    comm_.allreduce_sum(Axis::Row, a.ce_target.data(), a.ce_target.size());
    auto mx = Kokkos::create_mirror_view_and_copy(HostSpace(), a.ce_max);
    auto se = Kokkos::create_mirror_view_and_copy(HostSpace(), a.ce_sum);
    auto tg = Kokkos::create_mirror_view_and_copy(HostSpace(), a.ce_target);
    double sum = 0, count = 0;
    for (int t = 0; t < local_tokens_; ++t) {
      if (targets_host(t) < 0) continue;
      sum += std::log(static_cast<double>(se(t))) + mx(t) - tg(t);
      count += 1;
    }
    out.push_back(reduce_loss(sum, count, 0));
  }
  return out;
}

std::vector<LossSums> Transformer::classification_loss(const std::vector<const Batch*>& batches,
                                                       WeightSource& w) {
  forward(batches, w);
  const BlockPair E_dev = w.pass_blocks(embed_id_);
  std::vector<LossSums> out;
  for (std::size_t s = 0; s < batches.size(); ++s) {
    const Batch& batch = *batches[s];
    const int L = static_cast<int>(batch.label_words.size());
    if (L < 2) fail("classification needs at least 2 label words, got {}", L);
    // Label-word rows of the tied embedding for this rank's hidden slice: each rank copies
    // the rows it holds, a sum over the ranks that split the vocabulary completes them.
    const int h_loc = static_cast<int>(act_[s].final_.extent(1));
    // Only the L label rows cross to the host, never the whole embedding block.
    std::vector<float> label_rows(static_cast<std::size_t>(L) * h_loc, 0.0f);
    const int v0 = embed_vocab_offset(), nv = embed_valid_vocab();
    for (int k = 0; k < L; ++k) {
      const int r = batch.label_words[k] - v0;
      if (r < 0 || r >= nv) continue;
      Kokkos::View<float*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> row(
          label_rows.data() + static_cast<std::size_t>(k) * h_loc, h_loc);
      Kokkos::deep_copy(row, Kokkos::subview(E_dev[s], r, Kokkos::ALL()));
    }
    comm_.allreduce_sum(two_d() ? Axis::Col : Axis::Row, label_rows.data(), label_rows.size());

    // Partial logits over the local hidden slice for the local sequences; summed along the
    // row in 2D (hidden is split there). Only L logits: the vocabulary is never formed.
    auto H = Kokkos::create_mirror_view_and_copy(HostSpace(), act_[s].final_);
    std::vector<float> logits(static_cast<std::size_t>(local_batch_) * L, 0.0f);
    for (int b = 0; b < local_batch_; ++b) {
      const int row = b * seq_ + batch.last_pos[mesh_.row() * local_batch_ + b];
      for (int k = 0; k < L; ++k) {
        double acc = 0;
        for (int j = 0; j < h_loc; ++j)
          acc += static_cast<double>(H(row, j)) * label_rows[k * h_loc + j];
        logits[b * L + k] = static_cast<float>(acc);
      }
    }
    if (two_d()) comm_.allreduce_sum(Axis::Row, logits.data(), logits.size());
    double sum = 0, correct = 0, count = 0;
    for (int b = 0; b < local_batch_; ++b) {
      const float* l = &logits[b * L];
      const int label = batch.labels[mesh_.row() * local_batch_ + b];
      if (label < 0) continue;  // a masked sequence (padding of the last eval batch)
      count += 1;
      int best = 0;
      double m = l[0];
      for (int k = 1; k < L; ++k)
        if (l[k] > m) m = l[k], best = k;
      double se = 0;
      for (int k = 0; k < L; ++k) se += std::exp(static_cast<double>(l[k]) - m);
      sum += std::log(se) + m - l[label];
      correct += best == label;
    }
    out.push_back(reduce_loss(sum, count, correct));
  }
  return out;
}

}  // namespace zoptimus

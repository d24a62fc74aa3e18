// ModelSession implementation.
#include "train/model_session.hpp"

#include "io/synthetic_data.hpp"

namespace zoptimus {

namespace {
// Held-out batches are drawn far from the training stream of the same seed.
constexpr std::int64_t kEvalBatchOffset = std::int64_t{1} << 40;
}  // namespace

ModelSession::ModelSession(const Config& config, const Mesh& mesh)
    : config_(config), mesh_(mesh), comm_(mesh, stats_) {
  model_ = std::make_unique<Transformer>(ModelDims::from_config(config.model), mesh, comm_,
                                         config.data.batch, config.data.seq_len,
                                         parse_summa_choice(config.parallel.summa));
  model_->params().initialize(static_cast<std::uint64_t>(config.model.seed),
                              static_cast<float>(config.model.init_std));
}

LossSums ModelSession::loss(const Batch& batch, WeightSource& weights) {
  if (config_.data.task == "classification") return model_->classification_loss(batch, weights);
  return model_->lm_loss(batch, weights);
}

LossSums ModelSession::evaluate() {
  StoredWeights weights(model_->params());
  LossSums total;
  for (int i = 0; i < config_.run.eval_batches; ++i) {
    Batch b = synthetic_batch(config_.data, config_.model.vocab, mesh_.replica(), mesh_.shape().dp,
                              kEvalBatchOffset + i);
    LossSums l = loss(b, weights);
    total.sum += l.sum;
    total.count += l.count;
    total.correct += l.correct;
  }
  return total;
}

}  // namespace zoptimus

// ModelSession implementation.
#include "train/model_session.hpp"

#include "parallel/collective_guard.hpp"

namespace zoptimus {

ModelSession::ModelSession(const Config& config, const Mesh& mesh)
    : config_(config),
      mesh_(mesh),
      comm_(mesh, stats_, select_comm_backend(config.parallel.collectives)) {
  model_ =
      std::make_unique<Transformer>(ModelDims::from_config(config.model), mesh, comm_,
                                    config.data.batch, config.data.seq_len, config.parallel.summa);
  model_->params().initialize(static_cast<std::uint64_t>(config.model.seed),
                              static_cast<float>(config.model.init_std));
  batches_ = run_collectively(mesh.world(), [&] { return make_batch_source(config, mesh); });
}

LossSums ModelSession::loss(const Batch& batch, WeightSource& weights) {
  if (config_.data.task == Task::Classification) return model_->classification_loss(batch, weights);
  return model_->lm_loss(batch, weights);
}

std::vector<LossSums> ModelSession::losses(const std::vector<const Batch*>& batches,
                                           WeightSource& weights) {
  if (config_.data.task == Task::Classification)
    return model_->classification_loss(batches, weights);
  return model_->lm_loss(batches, weights);
}

LossSums ModelSession::evaluate() {
  StoredWeights weights(model_->params());
  LossSums total;
  // The held-out sequences split over the replicas; the last batch is partly masked.
  const std::int64_t per_batch = std::int64_t{config_.data.batch} * mesh_.shape().dp;
  const std::int64_t n = (batches_->eval_sequences() + per_batch - 1) / per_batch;
  for (std::int64_t i = 0; i < n; ++i) {
    LossSums l = loss(batches_->eval_batch(i), weights);
    total.sum += l.sum;
    total.count += l.count;
    total.correct += l.correct;
  }
  return total;
}

ZoOptimizer make_zo_optimizer(const Config& config, ModelSession& session) {
  return ZoOptimizer(config.optim, config.run, session.model().params(), config.model.layers,
                     session.comm());
}

StepRecord zo_train_step(ZoOptimizer& optimizer, ModelSession& session, std::int64_t t) {
  const Batch batch = session.batches().train_batch(t);
  return optimizer.step(t, batch, session);
}

}  // namespace zoptimus

// ModelSession implementation.
#include "train/model_session.hpp"

#include <new>

#include <fmt/format.h>

#include "core/error.hpp"
#include "model/offload/offloaded_weights.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/control_collectives.hpp"
#include "train/memory_check.hpp"

namespace zoptimus {

ModelSession::ModelSession(const Config& config, const Mesh& mesh)
    : config_(config),
      mesh_(mesh),
      comm_(mesh, stats_, select_comm_backend(config.parallel.collectives)) {
  check_memory_fits(config, mesh);  // before allocating anything the deck sizes
  // Allocation is local (no collective inside), so running out of memory on some ranks is
  // one agreed message naming the keys to change, not std::bad_alloc once per rank.
  model_ = run_collectively(mesh.world(), [&] {
    try {
      return std::make_unique<Transformer>(
          ModelDims::from_config(config.model), mesh, comm_, config.data.batch, config.data.seq_len,
          config.parallel.summa,
          config.optim.offload ? ParameterPlacement::HostBlocks : ParameterPlacement::Device);
    } catch (const std::bad_alloc&) {
      fail(
          "out of memory allocating the model's parameters and activations (data.batch = {}, "
          "data.seq_len = {}, model.hidden = {}, {} ranks): lower data.batch or data.seq_len, "
          "or run on more ranks",
          config.data.batch, config.data.seq_len, config.model.hidden, mesh.shape().world_size());
    }
  });
  if (config.optim.offload)  // a cap too small is refused on every rank, with one message
    offload_ = run_collectively(mesh.world(), [&] {
      return std::make_unique<OffloadPipeline>(model_->params(), config.optim.offload_device_bytes);
    });
  model_->params().initialize(static_cast<std::uint64_t>(config.model.seed),
                              static_cast<float>(config.model.init_std));
  batches_ = run_collectively(mesh.world(), [&] { return make_batch_source(config, mesh); });
  // Every rank must run the same number of evaluation batches (each holds collectives);
  // the count comes from the file each rank opened, so check that they agree.
  std::vector<std::int64_t> agreed = {batches_->eval_sequences(), -batches_->eval_sequences()};
  allreduce_min(mesh.world(), agreed);
  if (agreed[0] != -agreed[1])
    fail_on_all_ranks(mesh.world(),
                      fmt::format("the ranks disagree on the number of held-out sequences ({} to "
                                  "{}): every rank must read the same data.path",
                                  agreed[0], -agreed[1]));
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
  StoredWeights stored(model_->params());
  std::unique_ptr<OffloadedWeights> offloaded;
  if (offload_) offloaded = std::make_unique<OffloadedWeights>(stored, *offload_, model_->params());
  WeightSource& weights = offloaded ? static_cast<WeightSource&>(*offloaded) : stored;
  LossSums total;
  // The held-out sequences split over the replicas; the last batch is partly masked.
  const std::int64_t per_batch = std::int64_t{config_.data.batch} * mesh_.shape().dp;
  const std::int64_t n = (batches_->eval_sequences() + per_batch - 1) / per_batch;
  for (std::int64_t i = 0; i < n; ++i) {
    LossSums l = loss(batches_->eval_batch(i), weights);
    if (offloaded) offloaded->finish();
    total.sum += l.sum;
    total.count += l.count;
    total.correct += l.correct;
  }
  return total;
}

ZoOptimizer make_zo_optimizer(const Config& config, ModelSession& session) {
  return ZoOptimizer(config.optim, config.run, session.model().params(), config.model.layers,
                     session.comm(), session.offload());
}

StepRecord zo_train_step(ZoOptimizer& optimizer, ModelSession& session, std::int64_t t) {
  const Batch batch = session.batches().train_batch(t);
  return optimizer.step(t, batch, session);
}

}  // namespace zoptimus

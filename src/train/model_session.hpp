// ModelSession: the objects one run needs to evaluate a partitioned model: communication
// counters, counted collectives on the mesh, and the transformer with initialised weights.
// It is the Objective the ZO optimizer minimises (the deck's task on the partitioned model).
#pragma once

#include <memory>

#include "core/config.hpp"
#include "io/batch_source.hpp"
#include "model/offload/offload_pipeline.hpp"
#include "model/transformer.hpp"
#include "optim/objective.hpp"
#include "optim/zo_optimizer.hpp"
#include "parallel/collectives.hpp"
#include "parallel/comm_stats.hpp"

namespace zoptimus {

class ModelSession : public Objective {
 public:
  // Builds the model for the deck's batch and sequence length and initialises it from
  // model.seed (identical on every mesh).
  ModelSession(const Config& config, const Mesh& mesh);

  const Config& config() const { return config_; }
  const Mesh& mesh() const { return mesh_; }
  CommStats& stats() { return stats_; }
  Collectives& comm() { return comm_; }
  Transformer& model() { return *model_; }
  BatchSource& batches() { return *batches_; }
  // The offload pipeline (optim.offload), or nullptr.
  OffloadPipeline* offload() { return offload_.get(); }

  // The loss the deck's task asks for (LM or classification) on one batch.
  LossSums loss(const Batch& batch, WeightSource& weights);
  // One loss per stream of `weights` (the ZO step's + and - streams on the same batch).
  std::vector<LossSums> losses(const std::vector<const Batch*>& batches,
                               WeightSource& weights) override;
  // Loss over the held-out sequences (BatchSource::eval_sequences: the whole validation
  // split of a dataset) with the stored weights; the same sequences on every mesh.
  LossSums evaluate();

 private:
  const Config& config_;
  const Mesh& mesh_;
  CommStats stats_;
  Collectives comm_;
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<OffloadPipeline> offload_;
  std::unique_ptr<BatchSource> batches_;
};

// The deck's ZO optimizer over the session's parameters and mesh.
ZoOptimizer make_zo_optimizer(const Config& config, ModelSession& session);
// Step t of the deck's run: the training batch of step t, losses from the session.
StepRecord zo_train_step(ZoOptimizer& optimizer, ModelSession& session, std::int64_t t);

}  // namespace zoptimus

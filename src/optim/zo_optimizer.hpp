// ZoOptimizer: one zeroth-order step (MeZO / Sparse-MeZO / LeZO). For each of n
// perturbations: a dual-stream forward gives l+ = L(theta + eps z) and l- = L(theta - eps z)
// on the same micro-batch, g = (l+ - l-) / (2 eps); the update theta -= lr ((1/n) sum g z +
// lambda theta) is deferred into the next step's generation pass (zo_weights.hpp).
// With parallel.pp > 1 the ranks of a pp group split the n directions (docs/design.md); each
// still applies all n in the update, so the group's weights stay identical.
//
// The optimizer is a function of its inputs: the caller (train/) fetches the step's batch and
// hands in the Objective that evaluates it; the optimizer's resumable state is a plain
// StateDict plus named parameter-shaped stores, which io/ serialises.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <mpi.h>

#include "core/config.hpp"
#include "core/state_dict.hpp"
#include "model/batch.hpp"
#include "model/named_stores.hpp"
#include "model/offload/offloaded_weights.hpp"
#include "optim/anderson.hpp"
#include "optim/objective.hpp"
#include "optim/step_record.hpp"
#include "optim/zo_weights.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

class ZoOptimizer {
 public:
  // Updates `params` (this rank's blocks of a model with `layers` decoder layers); collective
  // state (Sparse thresholds, Anderson Gram) is reduced through `comm` (world axis). The
  // learning-rate schedule and the step seeds come from `run`. Sparse-MeZO thresholds are computed
  // (collectively) from the weights at the first step, unless restored from a checkpoint.
  // offload: the pipeline of optim.offload (params placed HostBlocks), or nullptr.
  ZoOptimizer(const OptimConfig& optim, const RunConfig& run, ParameterStore& params, int layers,
              Collectives& comm, OffloadPipeline* offload = nullptr);

  // Step t on `batch` (the same micro-batch for the + and - streams), losses from `objective`.
  StepRecord step(std::int64_t t, const Batch& batch, Objective& objective);
  // Applies a pending update so that the stored parameters are current (with offloading:
  // layer by layer through the pipeline, into the host masters).
  void flush();
  ZoWeights& weights() { return *weights_; }
  const AndersonMixer* anderson() const { return anderson_.get(); }

  // Optimizer state for a checkpoint taken after `completed_steps` steps (call flush()
  // first): Sparse thresholds; the momentum buffer goes in as an extra store.
  StateDict state(std::int64_t completed_steps);
  NamedStores extra_stores();
  // Restores what state() saved (thresholds; momentum is read into extra_stores_in()).
  void restore(const StateDict& state);
  NamedStoresIn extra_stores_in();

 private:
  std::vector<char> active_tensors(const std::vector<int>& layers) const;
  void ensure_thresholds();

  OptimConfig optim_;
  RunConfig run_;
  ParameterStore& params_;
  int layers_;
  Collectives& comm_;
  std::unique_ptr<ZoWeights> weights_;
  OffloadPipeline* offload_ = nullptr;
  std::unique_ptr<OffloadedWeights> offloaded_;  // weights_ through offload_
  std::unique_ptr<AndersonMixer> anderson_;      // when optim.anderson.m > 0 or beta != 1
  bool thresholds_ready_ = true;
};

}  // namespace zoptimus

// ZoOptimizer: one zeroth-order step (MeZO / Sparse-MeZO / LeZO). For each of n
// perturbations: a dual-stream forward gives l+ = L(theta + eps z) and l- = L(theta - eps z)
// on the same micro-batch, g = (l+ - l-) / (2 eps); the update theta -= lr ((1/n) sum g z +
// lambda theta) is deferred into the next step's generation pass (zo_weights.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/checkpoint.hpp"
#include "optim/anderson.hpp"
#include "optim/zo_weights.hpp"
#include "train/model_session.hpp"

namespace zoptimus {

struct ZoStepResult {
  std::int64_t step = 0;
  std::uint64_t seed = 0;            // seed of perturbation 0 (the others follow from it)
  std::vector<std::uint64_t> seeds;  // every perturbation's seed
  std::vector<double> loss_plus, loss_minus, projected_grad;
  std::vector<int> active_layers;  // LeZO subset (empty: all layers)
  std::vector<double> anderson;    // Anderson update for replay (empty: plain step)
  double lr = 0;
  double tokens = 0;     // target tokens (or sequences) seen, all replicas
  bool skipped = false;  // a loss was NaN/Inf: no update
  double loss() const;   // mean of (l+ + l-)/2 over perturbations
};

class ZoOptimizer {
 public:
  // Sparse-MeZO thresholds are computed (collectively) from the weights at the first step,
  // unless restored from a checkpoint.
  ZoOptimizer(const Config& config, ModelSession& session);

  ZoStepResult step(std::int64_t t);
  // Applies a pending update so that the stored parameters are current.
  void flush() { weights_->flush(); }
  ZoWeights& weights() { return *weights_; }
  const AndersonMixer* anderson() const { return anderson_.get(); }

  // Optimizer state for a checkpoint taken after `completed_steps` steps (call flush()
  // first): Sparse thresholds; the momentum buffer goes in as an extra store.
  CheckpointState state(std::int64_t completed_steps);
  ExtraStores extra_stores();
  // Restores what state() saved (thresholds; momentum is read into extra_stores_in()).
  void restore(const CheckpointState& state);
  ExtraStoresIn extra_stores_in();

 private:
  std::vector<char> active_tensors(const std::vector<int>& layers) const;
  void ensure_thresholds();

  const Config& config_;
  ModelSession& session_;
  std::unique_ptr<ZoWeights> weights_;
  std::unique_ptr<AndersonMixer> anderson_;  // when optim.anderson.m > 0 or beta != 1
  bool thresholds_ready_ = true;
};

}  // namespace zoptimus

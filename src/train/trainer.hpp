// Trainer: the ZO fine-tuning loop: steps, progress lines (rank 0), periodic held-out
// evaluation, NaN/Inf handling, and the in-memory trajectory (seeds, g, lr, layer subsets).
#pragma once

#include <vector>

#include "io/checkpoint.hpp"
#include "io/run_log.hpp"
#include "optim/zo_optimizer.hpp"
#include "train/model_session.hpp"

namespace zoptimus {

struct EvalPoint {
  std::int64_t step;
  double loss, accuracy;
};

struct TrainSummary {
  int steps = 0;
  int skipped = 0;
  double first_loss = 0, last_loss = 0;  // training loss (l+ + l-)/2 of the first/last step
  double initial_eval_loss = 0;          // held-out loss before the first step of this run
  double eval_loss = 0, eval_accuracy = 0;
  double seconds = 0;
  double forward_seconds = 0, generate_seconds = 0, io_seconds = 0;
};

class Trainer {
 public:
  Trainer(const Config& config, ModelSession& session);

  // Runs steps [first_step, run.steps), recording every step and evaluation in `log` if given,
  // and writing checkpoints every io.checkpoint_every steps and at the end into `series`.
  TrainSummary run(std::int64_t first_step = 0, RunLog* log = nullptr,
                   const CheckpointSeries* series = nullptr);
  // Writes the checkpoint of `completed_steps` (applies the pending update first).
  std::string save_checkpoint(const CheckpointSeries& series, std::int64_t completed_steps);
  const std::vector<StepRecord>& trajectory() const { return trajectory_; }
  const std::vector<EvalPoint>& evals() const { return evals_; }
  ZoOptimizer& optimizer() { return optimizer_; }

 private:
  EvalPoint evaluate(std::int64_t step, RunLog* log);
  void check_divergence(const RunConfig& rc, std::int64_t t, double first_loss, double loss) const;

  const Config& config_;
  ModelSession& session_;
  ZoOptimizer optimizer_;
  std::vector<StepRecord> trajectory_;
  std::vector<EvalPoint> evals_;
};

}  // namespace zoptimus

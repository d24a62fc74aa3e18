// The ZO training loop (see trainer.hpp).
#include "train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus {

namespace {
// Open MPI hands every rank a pty, so isatty() says nothing about where mpirun's output goes;
// draw the live bar only for a direct terminal run, or when asked (ZOPTIMUS_PROGRESS=bar).
bool live_progress_bar() {
  const char* force = std::getenv("ZOPTIMUS_PROGRESS");
  if (force) return std::string(force) == "bar";
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") ||
                        std::getenv("PMIX_RANK") || std::getenv("SLURM_PROCID");
  return !launched && isatty(fileno(stdout));
}
}  // namespace

// A loss that explodes but stays finite (too large a step): stop before that state is
// evaluated or checkpointed. The losses are agreed on every rank, so is the decision.
void Trainer::check_divergence(const RunConfig& rc, std::int64_t t, double first_loss,
                               double loss) const {
  if (rc.divergence_factor <= 0) return;
  const double limit = rc.divergence_factor * std::max(std::fabs(first_loss), 1.0);
  if (loss <= limit) return;
  fail_on_all_ranks(
      session_.mesh().world(),
      fmt::format("step {}: the loss diverged ({:.6g}, more than run.divergence_factor = {} x "
                  "max(first loss {:.6g}, 1)); stopping without writing this state. Lower "
                  "optim.lr (now {}) or optim.eps (now {})",
                  t + 1, loss, rc.divergence_factor, first_loss, config_.optim.lr,
                  config_.optim.eps));
}

Trainer::Trainer(const Config& config, ModelSession& session)
    : config_(config), session_(session), optimizer_(make_zo_optimizer(config, session)) {}

EvalPoint Trainer::evaluate(std::int64_t step, RunLog* log_file) {
  optimizer_.flush();  // evaluation reads theta: apply the deferred update first
  PhaseRegion region(phase::kEval);
  const LossSums l = session_.evaluate();
  region.end();
  EvalPoint e{step, l.mean(), config_.data.task == Task::Classification ? l.accuracy() : NAN};
  evals_.push_back(e);
  if (log_file) {
    log_file->add_eval(step, e.loss, e.accuracy);
    log_file->flush();  // collective; evaluations are rare and worth keeping if the run dies
  }
  if (config_.data.task == Task::Classification)
    log::info("eval  step {:>6}  loss {:.6f}  accuracy {:.4f}", step, e.loss, e.accuracy);
  else
    log::info("eval  step {:>6}  loss {:.6f}", step, e.loss);
  return e;
}

std::string Trainer::save_checkpoint(const CheckpointSeries& series, std::int64_t completed_steps) {
  optimizer_.flush();  // a checkpoint holds current weights, never a pending update
  const std::string path = series.path_for(completed_steps);
  write_checkpoint(path, session_.model().params(), session_.mesh(), config_,
                   optimizer_.state(completed_steps), optimizer_.extra_stores());
  series.saved(path);
  log::info("checkpoint: {}", path);
  return path;
}

TrainSummary Trainer::run(std::int64_t first_step, RunLog* log_file,
                          const CheckpointSeries* series) {
  const RunConfig& rc = config_.run;
  const bool tty = log::rank() == 0 && live_progress_bar();
  TrainSummary s;
  if (first_step < rc.steps) s.initial_eval_loss = evaluate(first_step, log_file).loss;
  Timer total;
  double tokens_done = 0;
  int bad_in_a_row = 0;
  bool have_first = false;
  for (std::int64_t t = first_step; t < rc.steps; ++t) {
    const ForwardTimes f0 = session_.model().times();
    const double comm0 = session_.stats().total_seconds();
    const double gen0 = optimizer_.weights().generate_seconds();
    PhaseTimer step_timer(phase::kStep);
    StepRecord r = zo_train_step(optimizer_, session_, t);
    const double dt = step_timer.stop();
    const ForwardTimes& f1 = session_.model().times();
    r.step_seconds = dt;
    r.forward_seconds = (f1.gemm + f1.other) - (f0.gemm + f0.other);
    r.comm_seconds = session_.stats().total_seconds() - comm0;
    // Perturbation and update are one fused pass; its time is reported as RNG.
    r.rng_seconds = optimizer_.weights().generate_seconds() - gen0;
    trajectory_.push_back(r);
    if (log_file) log_file->append(r);  // collective only on the steps where rank 0 writes
    ++s.steps;
    tokens_done += r.tokens * 2 * r.loss_plus.size();
    if (r.skipped) {
      ++s.skipped;
      // The losses are agreed on every rank: one warning, from rank 0.
      if (log::rank() == 0)
        log::warn("step {}: non-finite loss (l+ = {}, l- = {}); step skipped", t, r.loss_plus[0],
                  r.loss_minus[0]);
      // The losses are agreed on every rank, so is this stop: one message.
      if (++bad_in_a_row > rc.max_bad_steps)
        fail_on_all_ranks(
            session_.mesh().world(),
            fmt::format("{} consecutive steps had non-finite losses (run.max_bad_steps = {}); "
                        "stopping. Lower optim.lr or optim.eps",
                        bad_in_a_row, rc.max_bad_steps));
    } else {
      bad_in_a_row = 0;
      if (!have_first) s.first_loss = r.loss(), have_first = true;
      s.last_loss = r.loss();
      check_divergence(rc, t, s.first_loss, r.loss());
    }
    const double elapsed = total.seconds();
    const double eta = elapsed / s.steps * (rc.steps - t - 1);
    const bool log_line = (t + 1) % rc.log_every == 0 || t == first_step || t + 1 == rc.steps;
    if (log_line) {
      if (tty) std::printf("\r\033[K");
      log::info(
          "step {:>6}/{}  l+ {:.6f}  l- {:.6f}  g {:+.4e}  lr {:.3e}  {:.0f} tok/s  "
          "{:.3f} s/step  eta {:.0f}s",
          t + 1, rc.steps, r.loss_plus[0], r.loss_minus[0], r.projected_grad[0], r.lr,
          tokens_done / elapsed, dt, eta);
    } else if (tty) {
      const int width = 30, done = static_cast<int>(width * (t + 1) / rc.steps);
      std::printf("\r[%.*s%*s] %lld/%d  loss %.4f", done, "##############################",
                  width - done, "", static_cast<long long>(t + 1), rc.steps, r.loss());
      std::fflush(stdout);
    }
    if (rc.eval_every > 0 && (t + 1) % rc.eval_every == 0 && t + 1 < rc.steps)
      evaluate(t + 1, log_file);
    const int every = config_.io.checkpoint_every;
    if (series && every > 0 && (t + 1) % every == 0 && t + 1 < rc.steps) {
      PhaseTimer io(phase::kIo);
      save_checkpoint(*series, t + 1);
      s.io_seconds += io.seconds();
    }
  }
  if (tty) std::printf("\r\033[K");
  const EvalPoint e = evaluate(rc.steps, log_file);
  if (series && first_step < rc.steps) {
    PhaseTimer io(phase::kIo);
    save_checkpoint(*series, rc.steps);
    s.io_seconds += io.seconds();
  }
  s.eval_loss = e.loss;
  s.eval_accuracy = e.accuracy;
  s.seconds = total.seconds();
  s.generate_seconds = optimizer_.weights().generate_seconds();
  return s;
}

}  // namespace zoptimus

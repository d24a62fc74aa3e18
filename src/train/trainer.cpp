// The ZO training loop (see trainer.hpp).
#include "train/trainer.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"

namespace zoptimus {

Trainer::Trainer(const Config& config, ModelSession& session)
    : config_(config), session_(session), optimizer_(config, session) {}

EvalPoint Trainer::evaluate(std::int64_t step) {
  optimizer_.flush();  // evaluation reads theta: apply the deferred update first
  const LossSums l = session_.evaluate();
  EvalPoint e{step, l.mean(), config_.data.task == "classification" ? l.accuracy() : NAN};
  evals_.push_back(e);
  if (config_.data.task == "classification")
    log::info("eval  step {:>6}  loss {:.6f}  accuracy {:.4f}", step, e.loss, e.accuracy);
  else
    log::info("eval  step {:>6}  loss {:.6f}", step, e.loss);
  return e;
}

TrainSummary Trainer::run(std::int64_t first_step,
                          const std::function<void(const ZoStepResult&)>& on_step) {
  const RunConfig& rc = config_.run;
  const bool tty = log::rank() == 0 && isatty(fileno(stdout));
  TrainSummary s;
  Timer total;
  double tokens_done = 0;
  int bad_in_a_row = 0;
  for (std::int64_t t = first_step; t < rc.steps; ++t) {
    Timer step_timer;
    ZoStepResult r = optimizer_.step(t);
    const double dt = step_timer.seconds();
    trajectory_.push_back(r);
    if (on_step) on_step(r);
    ++s.steps;
    tokens_done += r.tokens * 2 * r.loss_plus.size();
    if (r.skipped) {
      ++s.skipped;
      log::warn("step {}: non-finite loss (l+ = {}, l- = {}); step skipped", t, r.loss_plus[0],
                r.loss_minus[0]);
      if (++bad_in_a_row > rc.max_bad_steps)
        fail(
            "{} consecutive steps had non-finite losses (run.max_bad_steps = {}); stopping. "
            "Lower optim.lr or optim.eps",
            bad_in_a_row, rc.max_bad_steps);
    } else {
      bad_in_a_row = 0;
      if (s.steps == 1) s.first_loss = r.loss();
      s.last_loss = r.loss();
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
    if (rc.eval_every > 0 && (t + 1) % rc.eval_every == 0 && t + 1 < rc.steps) evaluate(t + 1);
  }
  if (tty) std::printf("\r\033[K");
  const EvalPoint e = evaluate(rc.steps);
  s.eval_loss = e.loss;
  s.eval_accuracy = e.accuracy;
  s.seconds = total.seconds();
  s.generate_seconds = optimizer_.weights().generate_seconds();
  return s;
}

}  // namespace zoptimus

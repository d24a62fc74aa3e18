// `zoptimus train DECK run.steps=0 [io.restart=CKPT]`: nothing to train, so the run is the
// evaluation of the starting model (the zero-shot score of an imported checkpoint). It loads
// the weights as `eval` does, scores the same held-out sequences, prints eval's line and the
// train summary line with steps=0, and writes nothing (no io.out_dir, run log or checkpoint).
#include <fmt/format.h>

#include "commands.hpp"
#include "core/log.hpp"

namespace zoptimus::app {

int run_train_zero_steps(const RunSetup& setup) {
  log::info("run.steps = 0: evaluation only, nothing is written");
  const EvalResult r = evaluate_model(setup);
  if (setup.config.data.task == Task::Classification)
    log::info("train: steps=0 eval_loss={:.6f} eval_accuracy={:.4f} time_s={:.3f}", r.loss.mean(),
              r.loss.accuracy(), r.seconds);
  else
    log::info("train: steps=0 eval_loss={:.6f} time_s={:.3f}", r.loss.mean(), r.seconds);
  return 0;
}

}  // namespace zoptimus::app

// `zoptimus eval DECK`: loss (and accuracy for classification) of the model on held-out
// batches. The last line is machine-readable: `eval: loss=<float> tokens=<int> ...`.
#include "commands.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

int run_eval(const DeckArgs& args) {
  RunSetup setup = setup_run(args, "eval");
  ModelSession session(setup.config, *setup.mesh);
  log::info("data: {}", session.batches().describe());
  log::info("model: {} parameters, {:.2f} MiB on this rank",
            session.model().params().global_count(),
            session.model().params().local_bytes() / 1048576.0);
  Timer timer;
  LossSums loss = session.evaluate();
  const double seconds = timer.seconds();
  if (setup.config.data.task == Task::Classification)
    log::info("eval: loss={:.6f} sequences={:.0f} accuracy={:.4f} time_s={:.3f}", loss.mean(),
              loss.count, loss.accuracy(), seconds);
  else
    log::info("eval: loss={:.6f} tokens={:.0f} time_s={:.3f}", loss.mean(), loss.count, seconds);
  return 0;
}

}  // namespace zoptimus::app

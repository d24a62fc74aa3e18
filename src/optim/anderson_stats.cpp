// Anderson mixing counts as text and as run-log attributes (see anderson_stats.hpp).
#include "optim/anderson_stats.hpp"

#include <fmt/format.h>

namespace zoptimus {

std::string describe(const AndersonStats& s) {
  const std::int64_t steps = s.mixed + s.no_history + s.singular + s.gamma_norm;
  return fmt::format(
      "mixed {} of {} steps; plain: no_history {}, singular {}, gamma_norm {}; restarts {} "
      "(triggers: singular {}, gamma_norm {}, loss_rise {}, period {}, masks {})",
      s.mixed, steps, s.no_history, s.singular, s.gamma_norm, s.restarts, s.restart_singular,
      s.restart_gamma_norm, s.restart_loss_rise, s.restart_period, s.restart_masks);
}

std::map<std::string, std::int64_t> run_log_attributes(const AndersonStats& s) {
  return {{"anderson_mixed_steps", s.mixed},
          {"anderson_plain_no_history", s.no_history},
          {"anderson_plain_singular", s.singular},
          {"anderson_plain_gamma_norm", s.gamma_norm},
          {"anderson_restarts", s.restarts},
          {"anderson_restart_singular", s.restart_singular},
          {"anderson_restart_gamma_norm", s.restart_gamma_norm},
          {"anderson_restart_loss_rise", s.restart_loss_rise},
          {"anderson_restart_period", s.restart_period},
          {"anderson_restart_masks", s.restart_masks}};
}

}  // namespace zoptimus

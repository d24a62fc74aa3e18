// Learning-rate schedules (see lr_schedule.hpp).
#include "optim/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace zoptimus {

double scheduled_lr(LrSchedule schedule, double base_lr, int warmup_steps, int total_steps,
                    long step) {
  if (warmup_steps > 0 && step < warmup_steps) return base_lr * (step + 1) / warmup_steps;
  if (schedule == LrSchedule::Constant || total_steps <= warmup_steps) return base_lr;
  const double progress =
      std::clamp(static_cast<double>(step - warmup_steps) / (total_steps - warmup_steps), 0.0, 1.0);
  if (schedule == LrSchedule::Linear) return base_lr * (1.0 - progress);
  return base_lr * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));  // cosine
}

}  // namespace zoptimus

// Learning-rate schedules: linear warm-up, then constant, linear decay to 0, or cosine to 0.
#pragma once

#include "core/choices.hpp"

namespace zoptimus {

double scheduled_lr(LrSchedule schedule, double base_lr, int warmup_steps, int total_steps,
                    long step);

}  // namespace zoptimus

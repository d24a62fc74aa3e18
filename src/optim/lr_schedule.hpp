// Learning-rate schedules: linear warm-up, then constant, linear decay to 0, or cosine to 0.
#pragma once

#include <string>

namespace zoptimus {

double scheduled_lr(const std::string& schedule, double base_lr, int warmup_steps, int total_steps,
                    long step);

}  // namespace zoptimus

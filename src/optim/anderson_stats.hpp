// How often Anderson mixed, and why it did not: counts for the train summary and the run log.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace zoptimus {

// Why the steps of a run did or did not mix history (m > 0), for the train summary and the run
// log. Every step the mixer sees is exactly one of mixed, no_history, singular, gamma_norm;
// one restart can have several triggers (the loss test needs 2 (m + 1) losses since the
// last restart, so it can only fire together with the period).
struct AndersonStats {
  std::int64_t mixed = 0;       // gamma applied: the update combines history
  std::int64_t no_history = 0;  // first step after a restart: nothing to mix yet
  std::int64_t singular = 0;    // regularised system singular (or zero Gram): plain step
  std::int64_t gamma_norm = 0;  // ||gamma|| > max_gamma_norm: plain step
  std::int64_t restarts = 0;    // history restarts in this run, and their triggers:
  std::int64_t restart_singular = 0, restart_gamma_norm = 0, restart_loss_rise = 0,
               restart_period = 0, restart_masks = 0;  // masks: Sparse thresholds refreshed
};

// One line for the train log: "mixed 410 of 600 steps; plain: ... ; restarts ...".
std::string describe(const AndersonStats& s);
// Run-log root attributes (anderson_mixed_steps, anderson_plain_no_history, ...).
std::map<std::string, std::int64_t> run_log_attributes(const AndersonStats& s);

}  // namespace zoptimus

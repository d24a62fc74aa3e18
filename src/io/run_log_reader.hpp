// Reading a run log back (any process, serial): the trajectory for `zoptimus ckpt replay` and
// the deck it was written with. Layout: run_log_format.hpp.
#pragma once

#include <string>
#include <vector>

#include "io/run_log_format.hpp"

namespace zoptimus {

// Every StepRecord in order. Tolerates a log cut off mid-flush (keeps the longest prefix on
// which all step datasets agree). Throws zoptimus::Error naming the file and dataset when the
// file is not a run log of a known version or a dataset is missing or malformed.
std::vector<StepRecord> read_trajectory(const std::string& path);

// The effective deck (TOML) a run log was written with; for replaying its trajectory.
std::string read_run_log_deck(const std::string& path);

}  // namespace zoptimus

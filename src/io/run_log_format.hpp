// The run log file (format "zoptimus-runlog"), shared by its writer (run_log.hpp) and its
// reader (run_log_reader.hpp).
//
// File layout (format "zoptimus-runlog", format_version 1), written by rank 0 only:
//
//   /                      attributes (variable-length strings unless noted):
//                            format = "zoptimus-runlog", format_version (int32) = 1,
//                            deck (effective TOML), deck_original (as read), deck_path,
//                            overrides (one per line), mesh, world_size (int32), backend
//                            (Kokkos default execution space), hostname (rank 0), hosts
//                            (distinct hostnames, comma-separated), n_hosts (int32), version,
//                            git_hash, build_type, compiler, kokkos, blas, hdf5, start_time
//                            (ISO 8601 UTC); written by finish(): end_time, wall_seconds,
//                            and the run_attributes given to it (int64; e.g. anderson_*).
//   /steps                 attribute n_perturb (int32); one entry per appended StepRecord:
//     step int64, seed uint64, lr float64, skipped int8,
//     step_seconds forward_seconds comm_seconds rng_seconds update_seconds io_seconds float64
//                                               1D [steps], extendible, chunked
//     loss_plus loss_minus projected_grad       float64 2D [steps, n_perturb]
//     active_layers int32 [total], active_layers_offsets int64 [steps + 1]
//     anderson_coeffs float64 [total], anderson_coeffs_offsets int64 [steps + 1]
//                  ragged rows: record i owns flat[offsets[i] : offsets[i+1]]; offsets[0] = 0
//   /eval                  step int64, loss float64, accuracy float64 (NaN for LM) [evals]
//   /ranks                 written by finish(), each [world_size] with attributes min, avg, max
//                          (min/max in the dataset's type, avg float64; NaN entries skipped):
//     <axis>_<kind>_bytes_sent, _bytes_recv, _calls (int64), _seconds (float64) for every
//       axis in {row, col, model, dp, world} and kind in CommStats::kind_name (row_bcast_calls)
//     peak_rss_bytes int64
//     <figure> float64 for each per-rank extra figure (NaN on ranks that did not report it)
//
// Records are buffered on rank 0 and written every kFlushEvery appends or on flush(), each
// write ending with H5Fflush, so a killed run leaves a readable log holding at least every
// record up to the last flush. read_trajectory() tolerates a log cut off mid-flush (it keeps
// the longest prefix on which all step datasets agree).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "optim/step_record.hpp"

namespace zoptimus {

inline constexpr const char* kRunLogFormat = "zoptimus-runlog";
inline constexpr int kRunLogFormatVersion = 1;

namespace run_log_fields {

// The per-step time datasets under /steps, in StepRecord's order.
inline constexpr std::array<const char*, 6> kTimes = {"step_seconds",   "forward_seconds",
                                                      "comm_seconds",   "rng_seconds",
                                                      "update_seconds", "io_seconds"};
// The [steps, n_perturb] datasets under /steps.
inline constexpr std::array<const char*, 3> kPerturb = {"loss_plus", "loss_minus",
                                                        "projected_grad"};

inline std::array<double, 6> times(const StepRecord& r) {
  return {r.step_seconds, r.forward_seconds, r.comm_seconds,
          r.rng_seconds,  r.update_seconds,  r.io_seconds};
}

inline void set_times(StepRecord& r, const std::array<double, 6>& t) {
  r.step_seconds = t[0];
  r.forward_seconds = t[1];
  r.comm_seconds = t[2];
  r.rng_seconds = t[3];
  r.update_seconds = t[4];
  r.io_seconds = t[5];
}

}  // namespace run_log_fields
}  // namespace zoptimus

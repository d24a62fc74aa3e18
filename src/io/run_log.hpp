// RunLog: the per-run HDF5 log (metadata, per-step trajectory, evals, per-rank figures).
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
//                            (ISO 8601 UTC); written by finish(): end_time, wall_seconds.
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
//       axis in {row, col, model, dp} and kind in CommStats::kind_name (e.g. row_bcast_calls)
//     peak_rss_bytes int64
//     <figure> float64 for each per-rank extra figure (NaN on ranks that did not report it)
//
// Records are buffered on rank 0 and written every kFlushEvery appends or on flush(), each
// write ending with H5Fflush, so a killed run leaves a readable log holding at least every
// record up to the last flush. read_trajectory() tolerates a log cut off mid-flush (it keeps
// the longest prefix on which all step datasets agree).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include "core/config.hpp"
#include "optim/step_record.hpp"
#include "parallel/comm_stats.hpp"

namespace zoptimus {

class RunLog {
 public:
  static constexpr int kFlushEvery = 50;  // appends between automatic flushes
  static constexpr int kFormatVersion = 1;

  // Collective over `world` (all ranks call; only rank 0 touches the file). Creates `path`
  // (and its parent directories); refuses to overwrite an existing file unless `overwrite`.
  // Writes the run metadata. The record width n_perturb is config.optim.n_perturb. A failure
  // on rank 0 throws AgreedError on every rank.
  RunLog(const std::string& path, const Config& config, const std::string& mesh_description,
         MPI_Comm world, bool overwrite = false);
  ~RunLog();  // flushes and closes if finish() was not called (no collectives)
  RunLog(RunLog&&) noexcept;
  RunLog& operator=(RunLog&&) noexcept;
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // Rank 0 buffers the record (and flushes every kFlushEvery appends); other ranks do
  // nothing. Throws zoptimus::Error on rank 0 if a per-perturbation vector does not hold
  // n_perturb values or the log is finished.
  void append(const StepRecord& r);
  void add_eval(std::int64_t step, double loss, double accuracy);  // accuracy NaN for LM
  // Rank 0 writes the buffered records and evals and calls H5Fflush; no-op elsewhere.
  void flush();

  // Collective: gathers every rank's CommStats, peak RSS and per_rank_figures (the union of
  // the names over ranks; NaN where a rank has none) to rank 0, which writes /ranks, the
  // end time, and closes the file. A failure on rank 0 throws AgreedError on every rank.
  void finish(const CommStats& stats, const std::map<std::string, double>& per_rank_figures);

  const std::string& path() const;
  int n_perturb() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads the trajectory back (any process, serial): every StepRecord in order; for
// `zoptimus ckpt replay`. Throws zoptimus::Error naming the file and dataset when the file is
// not a run log of a known version or a dataset is missing or malformed.
std::vector<StepRecord> read_trajectory(const std::string& path);

}  // namespace zoptimus

namespace zoptimus {
// The effective deck (TOML) a run log was written with; for replaying its trajectory.
std::string read_run_log_deck(const std::string& path);
}  // namespace zoptimus

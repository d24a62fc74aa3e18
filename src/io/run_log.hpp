// RunLog: the rank-0 writer of the per-run HDF5 log (metadata, per-step trajectory, evals,
// per-rank figures). The layout is in run_log_format.hpp; reading it back: run_log_reader.hpp.
//
// Records are buffered on rank 0 and written every kFlushEvery appends or on flush(), each
// write ending with H5Fflush, so a killed run leaves a readable log holding at least every
// record up to the last flush.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <mpi.h>

#include "core/config.hpp"
#include "io/run_log_format.hpp"
#include "parallel/comm_stats.hpp"

namespace zoptimus {

class RunLog {
 public:
  static constexpr int kFlushEvery = 50;  // appends between automatic flushes
  static constexpr int kFormatVersion = kRunLogFormatVersion;

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

  // Call on every rank with the same record: rank 0 buffers it, and every kFlushEvery
  // appends all ranks flush() (collective). Throws zoptimus::Error on every rank if a
  // per-perturbation vector does not hold n_perturb values or the log is finished.
  void append(const StepRecord& r);
  void add_eval(std::int64_t step, double loss, double accuracy);  // accuracy NaN for LM
  // Collective: rank 0 writes the buffered records and evals and calls H5Fflush; a failure
  // throws AgreedError on every rank.
  void flush();

  // Collective: gathers every rank's CommStats, peak RSS and per_rank_figures (the union of
  // the names over ranks; NaN where a rank has none) to rank 0, which writes /ranks, the
  // end time, the run_attributes (int64 root attributes: run-wide counts that rank 0 gives),
  // and closes the file. A failure on rank 0 throws AgreedError on every rank.
  void finish(const CommStats& stats, const std::map<std::string, double>& per_rank_figures,
              const std::map<std::string, std::int64_t>& run_attributes = {});

  const std::string& path() const;
  int n_perturb() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zoptimus

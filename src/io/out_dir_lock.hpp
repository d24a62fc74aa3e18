// OutDirLock: a run owns its io.out_dir. Rank 0 creates io.out_dir/zoptimus.lock atomically
// (O_CREAT | O_EXCL) holding the run's id, host and pid; a second run is refused with the
// owner named. A lock left by a dead process on this host is taken over with a warning (on
// another host liveness cannot be checked: the message says which file to remove).
#pragma once

#include <cstdint>
#include <string>

#include <mpi.h>

namespace zoptimus {

class OutDirLock {
 public:
  // Collective over comm: rank 0 takes the lock, every rank throws the same AgreedError when
  // it cannot. `run_id` is recorded in the file.
  OutDirLock(const std::string& out_dir, const std::string& run_id, MPI_Comm comm);
  ~OutDirLock();  // rank 0 removes the file (only while it is still this run's)
  OutDirLock(const OutDirLock&) = delete;
  OutDirLock& operator=(const OutDirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_, contents_;
  bool held_ = false;
};

// A new run's id, the same on every rank of comm: "<UTC time>-<host>-<pid>" of rank 0.
std::string new_run_id(MPI_Comm comm);

// Rank 0, holding the lock: removes *.h5.tmp files that killed writers left in out_dir,
// saying so. Collective (a failure is every rank's).
void remove_leftover_tmp_files(const std::string& out_dir, MPI_Comm comm);

// Rank 0: a run never replaces or mixes with checkpoints another run wrote. A fresh run
// (first_step < 0) is refused when out_dir holds any checkpoint, a restarted one when it holds
// one it would write (a step in (first_step, last_step]), unless io.overwrite (then those
// files are removed, with a warning). Collective (the refusal is every rank's).
void check_checkpoint_owners(const std::string& out_dir, std::int64_t first_step,
                             std::int64_t last_step, bool overwrite, MPI_Comm comm);

}  // namespace zoptimus

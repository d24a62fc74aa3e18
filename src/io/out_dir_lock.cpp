// OutDirLock and the start-up clean-up of an output directory (see out_dir_lock.hpp).
#include "io/out_dir_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/utc_time.hpp"
#include "io/checkpoint.hpp"
#include "parallel/broadcast_string.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/communicator.hpp"

namespace zoptimus {

namespace fs = std::filesystem;

namespace {

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "key value" lines of a lock file.
std::string field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
  return "";
}

// Creates the lock file with O_EXCL; false when it exists already.
bool create_exclusive(const std::string& path, const std::string& contents) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    fail("cannot create the lock file '{}': {}", path, std::strerror(errno));
  }
  const bool ok =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      ::fsync(fd) == 0;
  const int err = errno;
  if (::close(fd) != 0 || !ok) {
    ::unlink(path.c_str());
    fail("cannot write the lock file '{}': {}", path, std::strerror(err));
  }
  return true;
}

// A lock of a process on this host that no longer exists.
bool is_stale(const std::string& text, const std::string& host) {
  if (field(text, "host") != host) return false;
  long pid = 0;
  try {
    pid = std::stol(field(text, "pid"));
  } catch (const std::exception&) {
    return false;  // unreadable: leave it to the user
  }
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

std::string new_run_id(MPI_Comm comm) {
  std::string id;
  if (comm_rank(comm) == 0) {
    std::string stamp = utc_timestamp();  // 2026-12-01T23:12:16Z -> 20261201T231216Z
    stamp.erase(
        std::remove_if(stamp.begin(), stamp.end(), [](char c) { return c == '-' || c == ':'; }),
        stamp.end());
    id = fmt::format("{}-{}-{}", stamp, this_host(), static_cast<long>(::getpid()));
  }
  broadcast_string(id, 0, comm);
  return id;
}

OutDirLock::OutDirLock(const std::string& out_dir, const std::string& run_id, MPI_Comm comm)
    : path_((fs::path(out_dir) / "zoptimus.lock").string()) {
  if (comm_rank(comm) != 0) return;
  // Every rank learns whether rank 0 got it (a failure here is the whole run's).
  const std::string host = this_host();
  contents_ = fmt::format("run {}\nhost {}\npid {}\nsince {}\n", run_id, host,
                          static_cast<long>(::getpid()), utc_timestamp());
  std::string failure;
  try {
    for (int attempt = 0; attempt < 2 && !held_; ++attempt) {
      if (create_exclusive(path_, contents_)) {
        held_ = true;
        break;
      }
      const std::string owner = read_text(path_);
      if (attempt == 0 && is_stale(owner, host)) {
        // Two runs may find the same stale lock. Only the holder of the takeover guard may
        // remove it, and only if it still holds the stale owner (not a lock another run has
        // just created); the new lock is then claimed with O_EXCL as always.
        const std::string guard = path_ + ".takeover";
        if (!create_exclusive(guard, contents_))
          fail(
              "io.out_dir = '{}': another run is taking over the stale lock of run {} right "
              "now; if no run is starting there, remove {}",
              out_dir, field(owner, "run"), guard);
        const bool unchanged = read_text(path_) == owner;
        if (unchanged) {
          log::warn("io.out_dir = '{}': taking over the lock of run {} (pid {} on {} is gone)",
                    out_dir, field(owner, "run"), field(owner, "pid"), host);
          ::unlink(path_.c_str());
        }
        ::unlink(guard.c_str());
        continue;
      }
      fail(
          "io.out_dir = '{}' is in use by run {} (host {}, pid {}, since {}); wait for it to "
          "finish or choose another io.out_dir. If that run is dead, remove {}",
          out_dir, field(owner, "run"), field(owner, "host"), field(owner, "pid"),
          field(owner, "since"), path_);
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) throw Error(failure);
}

OutDirLock::~OutDirLock() {
  if (!held_) return;
  // Remove only our own lock (a user may have removed it and another run taken it).
  if (read_text(path_) == contents_) ::unlink(path_.c_str());
}

void remove_leftover_tmp_files(const std::string& out_dir, MPI_Comm comm) {
  run_collectively(comm, [&] {
    if (comm_rank(comm) != 0) return;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() < 7 || name.compare(name.size() - 7, 7, ".h5.tmp") != 0) continue;
      std::error_code rm;
      if (fs::remove(entry.path(), rm))
        log::warn("io.out_dir: removed {}, left by a writer that was stopped", name);
      else
        fail("io.out_dir: cannot remove the leftover {}: {}", entry.path().string(), rm.message());
    }
  });
}

void check_checkpoint_owners(const std::string& out_dir, std::int64_t first_step,
                             std::int64_t last_step, bool overwrite, MPI_Comm comm) {
  run_collectively(comm, [&] {
    if (comm_rank(comm) != 0) return;
    const std::regex name("ckpt_([0-9]+)\\.h5");
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
      std::smatch m;
      const std::string file = entry.path().filename().string();
      if (!std::regex_match(file, m, name)) continue;
      const std::int64_t step = std::stoll(m[1].str());
      if (first_step >= 0 && (step <= first_step || step > last_step)) continue;
      std::string owner = "an unknown run";
      try {
        const std::string id = read_checkpoint_info(entry.path().string()).run_id;
        if (!id.empty()) owner = "run " + id;
      } catch (const std::exception&) {
        owner = "an unknown run (the file does not validate)";
      }
      if (!overwrite)
        fail(
            "io.out_dir = '{}' holds {}, written by {}; this run would replace or mix with "
            "it. Set io.overwrite = true to replace that run's checkpoints, io.restart = "
            "latest to continue it, or choose another io.out_dir",
            out_dir, file, owner);
      std::error_code rm;
      fs::remove(entry.path(), rm);
      if (rm) fail("io.overwrite: cannot remove {}: {}", entry.path().string(), rm.message());
      log::warn("io.overwrite = true: removed {} (written by {})", file, owner);
    }
  });
}

}  // namespace zoptimus

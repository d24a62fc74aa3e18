// Peak RSS of this process: VmHWM from /proc/self/status on Linux, getrusage elsewhere.
//
// Why not getrusage alone: on Linux ru_maxrss survives execve, so a zoptimus started by a
// large parent (a Python driver holding PyTorch models) reported the parent's peak (2 GB
// instead of 0.3 GB in scripts/bench_matrix). VmHWM belongs to the new address space.
#include "core/memory.hpp"

#include <sys/resource.h>

#include <fstream>
#include <sstream>
#include <string>

namespace zoptimus {

namespace {

// VmHWM in bytes, or -1 when /proc is not there.
std::int64_t proc_high_water_mark() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream in(line.substr(6));
    std::int64_t kib = -1;
    in >> kib;
    return kib >= 0 ? kib * 1024 : -1;
  }
  return -1;
}

}  // namespace

std::int64_t peak_rss_bytes() {
  if (const std::int64_t hwm = proc_high_water_mark(); hwm >= 0) return hwm;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::int64_t>(u.ru_maxrss) * 1024;  // kilobytes on Linux
}

}  // namespace zoptimus

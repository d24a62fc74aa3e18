// Phase timing: wall-clock timers that wait for the execution instance doing the work (not
// the whole device), and Kokkos profiling regions with the run log's phase names, so Kokkos
// tools (space-time stack, Caliper connector, ...) see the same phases as the run log.
#pragma once

#include <chrono>

#include <Kokkos_Core.hpp>

#include "core/types.hpp"

namespace zoptimus {

// Region names, one per timed phase. The run log's /steps columns carry the same words:
// step_seconds, forward_seconds (gemm is part of forward), comm_seconds, rng_seconds (the
// fused perturb/update pass), io_seconds; eval has its own /eval group.
namespace phase {
inline constexpr const char* kStep = "zoptimus::step";
inline constexpr const char* kForward = "zoptimus::forward";
inline constexpr const char* kGemm = "zoptimus::gemm";
inline constexpr const char* kComm = "zoptimus::comm";
inline constexpr const char* kRng = "zoptimus::rng";
inline constexpr const char* kEval = "zoptimus::eval";
inline constexpr const char* kIo = "zoptimus::io";
}  // namespace phase

// A Kokkos profiling region for the lifetime of the scope (or until end()). Without a tool
// loaded it costs one check.
class PhaseRegion {
 public:
  explicit PhaseRegion(const char* name) : open_(Kokkos::Profiling::profileLibraryLoaded()) {
    if (open_) Kokkos::Profiling::pushRegion(name);
  }
  ~PhaseRegion() { end(); }
  void end() {
    if (open_) Kokkos::Profiling::popRegion();
    open_ = false;
  }
  PhaseRegion(const PhaseRegion&) = delete;
  PhaseRegion& operator=(const PhaseRegion&) = delete;

 private:
  bool open_;
};

class Timer {
 public:
  using clock = std::chrono::steady_clock;

  // `exec`: the instance whose work is timed (the default instance, which every kernel uses
  // today). Only it is fenced.
  explicit Timer(const ExecSpace& exec = ExecSpace()) : exec_(exec), start_(clock::now()) {}
  void reset() {
    exec_.fence();
    start_ = clock::now();
  }
  // Seconds since construction or the last reset(), after the instance's queued work finished.
  double seconds() const {
    exec_.fence();
    return std::chrono::duration<double>(clock::now() - start_).count();
  }

 private:
  ExecSpace exec_;
  clock::time_point start_;
};

// A timed phase: a Timer inside a profiling region named after the phase. stop() closes the
// region and returns the seconds; the destructor closes it if stop() was not called.
class PhaseTimer {
 public:
  explicit PhaseTimer(const char* name, const ExecSpace& exec = ExecSpace())
      : region_(name), timer_(exec) {}
  double seconds() const { return timer_.seconds(); }
  double stop() {
    const double s = timer_.seconds();
    region_.end();
    return s;
  }

 private:
  PhaseRegion region_;
  Timer timer_;
};

// Adds the lifetime of the scope to an accumulator (seconds).
class ScopedTimer {
 public:
  explicit ScopedTimer(double& accumulator) : accumulator_(accumulator) {}
  ~ScopedTimer() { accumulator_ += timer_.seconds(); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  double& accumulator_;
  Timer timer_;
};

}  // namespace zoptimus

// Wall-clock timers that fence Kokkos before reading, so device work is counted.
#pragma once

#include <chrono>

#include <Kokkos_Core.hpp>

namespace zoptimus {

class Timer {
 public:
  using clock = std::chrono::steady_clock;

  Timer() : start_(clock::now()) {}
  void reset() {
    Kokkos::fence();
    start_ = clock::now();
  }
  // Seconds since construction or the last reset(), after all queued device work finished.
  double seconds() const {
    Kokkos::fence();
    return std::chrono::duration<double>(clock::now() - start_).count();
  }

 private:
  clock::time_point start_;
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

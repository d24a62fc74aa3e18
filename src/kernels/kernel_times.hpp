// Wall time per non-GEMM kernel family, accumulated over the process (one rank), for
// `bench forward` / `bench zo` to split the non-GEMM part of a forward by kernel. Each kernel
// entry point opens a KernelTimer; on a device build it fences so the time is the kernel's.
#pragma once

#include <array>
#include <chrono>

#include <Kokkos_Core.hpp>

namespace zoptimus {

enum class KernelKind { Attention, LayerNorm, BiasActivation, Residual, Embedding, CrossEntropy };
inline constexpr int kKernelKinds = 6;
const char* kernel_kind_name(KernelKind k);

// Seconds per kind since the last reset.
std::array<double, kKernelKinds>& kernel_seconds();
void reset_kernel_seconds();

class KernelTimer {
 public:
  explicit KernelTimer(KernelKind k) : kind_(k), start_(std::chrono::steady_clock::now()) {}
  ~KernelTimer() {
    if constexpr (!Kokkos::SpaceAccessibility<
                      Kokkos::HostSpace, Kokkos::DefaultExecutionSpace::memory_space>::accessible)
      Kokkos::fence();
    kernel_seconds()[static_cast<int>(kind_)] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  KernelTimer(const KernelTimer&) = delete;
  KernelTimer& operator=(const KernelTimer&) = delete;

 private:
  KernelKind kind_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace zoptimus

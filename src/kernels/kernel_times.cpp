// Per-kernel time accumulators (see kernel_times.hpp).
#include "kernels/kernel_times.hpp"

namespace zoptimus {

const char* kernel_kind_name(KernelKind k) {
  switch (k) {
    case KernelKind::Attention:
      return "attention";
    case KernelKind::LayerNorm:
      return "layernorm";
    case KernelKind::BiasActivation:
      return "bias_activation";
    case KernelKind::Residual:
      return "residual";
    case KernelKind::Embedding:
      return "embedding";
    case KernelKind::CrossEntropy:
      return "cross_entropy";
  }
  return "?";
}

std::array<double, kKernelKinds>& kernel_seconds() {
  static std::array<double, kKernelKinds> seconds{};
  return seconds;
}

void reset_kernel_seconds() {
  kernel_seconds().fill(0.0);
}

}  // namespace zoptimus

// Accumulated time of the forward pass, split into the linear layers' GEMMs and the rest.
#pragma once

#include <cstdint>

namespace zoptimus {

struct ForwardTimes {
  double gemm = 0;   // local GEMMs inside linear layers and the head (includes SUMMA waits)
  double other = 0;  // everything else
  std::int64_t gemm_flops = 0;
};

}  // namespace zoptimus

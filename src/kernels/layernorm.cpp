// LayerNorm kernels (see layernorm.hpp).
#include "kernels/layernorm.hpp"

#include "kernels/kernel_times.hpp"
#include "kernels/kokkos_math.hpp"
#include "kernels/lane_reduce.hpp"
#include "kernels/row_loop.hpp"

namespace zoptimus {

void layernorm_partial_stats(ConstMatrix x, LayerNormStats stats) {
  KernelTimer timer(KernelKind::LayerNorm);
  const int cols = static_cast<int>(x.extent(1));
  for_each_row(
      "zoptimus::layernorm_partial_stats", static_cast<int>(x.extent(0)),
      [=](const int t) {
        double s = 0, s2 = 0;
        lanes::sum_and_squares(&x(t, 0), cols, s, s2);
        stats(t, 0) = s;
        stats(t, 1) = s2;
      },
      KOKKOS_LAMBDA(const int t) {
        double s = 0, s2 = 0;
        for (int j = 0; j < cols; ++j) {
          const double v = x(t, j);
          s += v;
          s2 += v * v;
        }
        stats(t, 0) = s;
        stats(t, 1) = s2;
      });
}

void layernorm_apply(ConstMatrix x, LayerNormStats stats, int hidden_global, ConstMatrix gamma,
                     ConstMatrix beta, double eps, Matrix y) {
  KernelTimer timer(KernelKind::LayerNorm);
  const int cols = static_cast<int>(x.extent(1));
  const double inv_h = 1.0 / hidden_global;
  Kokkos::parallel_for(
      "zoptimus::layernorm_apply", Kokkos::RangePolicy<ExecSpace>(0, x.extent(0)),
      KOKKOS_LAMBDA(const int t) {
        const double mean = stats(t, 0) * inv_h;
        double var = stats(t, 1) * inv_h - mean * mean;
        var = var > 0 ? var : 0;
        const float rstd = static_cast<float>(1.0 / kmath::sqrt(var + eps));
        const float m = static_cast<float>(mean);
        for (int j = 0; j < cols; ++j) y(t, j) = (x(t, j) - m) * rstd * gamma(0, j) + beta(0, j);
      });
}

}  // namespace zoptimus

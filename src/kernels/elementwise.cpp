// Element-wise kernels (see elementwise.hpp).
#include "kernels/elementwise.hpp"

#include "kernels/kernel_times.hpp"
#include "kernels/kokkos_math.hpp"
#include "kernels/row_loop.hpp"

namespace zoptimus {

void add_bias(Matrix y, ConstMatrix bias) {
  KernelTimer timer(KernelKind::BiasActivation);
  for_each_element(
      "zoptimus::add_bias", y.extent(0), y.extent(1),
      KOKKOS_LAMBDA(const int t, const int j) { y(t, j) += bias(0, j); });
}

void add_bias_activation(Matrix y, ConstMatrix bias, Activation act) {
  KernelTimer timer(KernelKind::BiasActivation);
  if (act == Activation::Relu) {
    for_each_element(
        "zoptimus::add_bias_relu", y.extent(0), y.extent(1),
        KOKKOS_LAMBDA(const int t, const int j) {
          const float v = y(t, j) + bias(0, j);
          y(t, j) = v > 0.0f ? v : 0.0f;
        });
  } else {
    for_each_element(
        "zoptimus::add_bias_gelu", y.extent(0), y.extent(1),
        KOKKOS_LAMBDA(const int t, const int j) {
          // Exact GELU: 0.5 v (1 + erf(v / sqrt 2)).
          const float v = y(t, j) + bias(0, j);
          y(t, j) = 0.5f * v * (1.0f + kmath::erf(v * 0.70710678118654752f));
        });
  }
}

void add_inplace(Matrix x, ConstMatrix y) {
  KernelTimer timer(KernelKind::Residual);
  for_each_element(
      "zoptimus::add_inplace", x.extent(0), x.extent(1),
      KOKKOS_LAMBDA(const int t, const int j) { x(t, j) += y(t, j); });
}

}  // namespace zoptimus

// Element-wise kernels (see elementwise.hpp).
#include "kernels/elementwise.hpp"

#include "kernels/kokkos_math.hpp"

namespace zoptimus {

namespace {
using Range2 = Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>;
}

void add_bias(Matrix y, ConstMatrix bias) {
  Kokkos::parallel_for(
      "zoptimus::add_bias", Range2({0, 0}, {y.extent(0), y.extent(1)}),
      KOKKOS_LAMBDA(const int t, const int j) { y(t, j) += bias(0, j); });
}

void add_bias_activation(Matrix y, ConstMatrix bias, Activation act) {
  const bool gelu = act == Activation::Gelu;
  Kokkos::parallel_for(
      "zoptimus::add_bias_activation", Range2({0, 0}, {y.extent(0), y.extent(1)}),
      KOKKOS_LAMBDA(const int t, const int j) {
        const float v = y(t, j) + bias(0, j);
        // Exact GELU: 0.5 v (1 + erf(v / sqrt 2)).
        y(t, j) =
            gelu ? 0.5f * v * (1.0f + kmath::erf(v * 0.70710678118654752f)) : (v > 0.0f ? v : 0.0f);
      });
}

void add_inplace(Matrix x, ConstMatrix y) {
  Kokkos::parallel_for(
      "zoptimus::add_inplace", Range2({0, 0}, {x.extent(0), x.extent(1)}),
      KOKKOS_LAMBDA(const int t, const int j) { x(t, j) += y(t, j); });
}

}  // namespace zoptimus

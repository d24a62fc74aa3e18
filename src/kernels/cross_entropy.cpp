// Vocab-parallel cross-entropy kernels (see cross_entropy.hpp).
#include "kernels/cross_entropy.hpp"

#include "kernels/kokkos_math.hpp"

namespace zoptimus {

namespace {
using Range = Kokkos::RangePolicy<ExecSpace>;
}

void ce_partial_max(ConstMatrix logits, int valid_cols, TokenValues max) {
  Kokkos::parallel_for(
      "zoptimus::ce_partial_max", Range(0, logits.extent(0)), KOKKOS_LAMBDA(const int t) {
        float m = -3.0e38f;
        for (int v = 0; v < valid_cols; ++v) m = logits(t, v) > m ? logits(t, v) : m;
        max(t) = m;
      });
}

void ce_partial_sumexp(ConstMatrix logits, int valid_cols, TokenValues max, TokenValues sumexp) {
  Kokkos::parallel_for(
      "zoptimus::ce_partial_sumexp", Range(0, logits.extent(0)), KOKKOS_LAMBDA(const int t) {
        float s = 0;
        for (int v = 0; v < valid_cols; ++v) s += kmath::exp(logits(t, v) - max(t));
        sumexp(t) = s;
      });
}

void ce_partial_target(ConstMatrix logits, ConstTokenVector targets, int vocab_offset,
                       int valid_cols, TokenValues target_logit) {
  Kokkos::parallel_for(
      "zoptimus::ce_partial_target", Range(0, logits.extent(0)), KOKKOS_LAMBDA(const int t) {
        const int v = targets(t) - vocab_offset;
        target_logit(t) = (v >= 0 && v < valid_cols) ? logits(t, v) : 0.0f;
      });
}

}  // namespace zoptimus

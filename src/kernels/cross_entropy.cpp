// Vocab-parallel cross-entropy kernels (see cross_entropy.hpp). On host memory the row
// reductions run over 16 lanes with the polynomial exp, so they vectorize.
#include "kernels/cross_entropy.hpp"

#include "kernels/fast_math.hpp"
#include "kernels/kernel_times.hpp"
#include "kernels/kokkos_math.hpp"
#include "kernels/lane_reduce.hpp"
#include "kernels/row_loop.hpp"

namespace zoptimus {

namespace {
using Range = Kokkos::RangePolicy<ExecSpace>;
}

void ce_partial_max(ConstMatrix logits, int valid_cols, TokenValues max) {
  KernelTimer timer(KernelKind::CrossEntropy);
  for_each_row(
      "zoptimus::ce_partial_max", static_cast<int>(logits.extent(0)),
      [=](const int t) {
        max(t) = valid_cols > 0 ? lanes::max_of(&logits(t, 0), valid_cols) : -3.0e38f;
      },
      KOKKOS_LAMBDA(const int t) {
        float m = -3.0e38f;
        for (int v = 0; v < valid_cols; ++v) m = logits(t, v) > m ? logits(t, v) : m;
        max(t) = m;
      });
}

void ce_partial_sumexp(ConstMatrix logits, int valid_cols, TokenValues max, TokenValues sumexp) {
  KernelTimer timer(KernelKind::CrossEntropy);
  for_each_row(
      "zoptimus::ce_partial_sumexp", static_cast<int>(logits.extent(0)),
      [=](const int t) {
        sumexp(t) = valid_cols > 0 ? lanes::sum_exp(&logits(t, 0), valid_cols, max(t)) : 0.0f;
      },
      KOKKOS_LAMBDA(const int t) {
        float s = 0;
        for (int v = 0; v < valid_cols; ++v) s += fast_exp(logits(t, v) - max(t));
        sumexp(t) = s;
      });
}

void ce_partial_target(ConstMatrix logits, ConstTokenVector targets, int vocab_offset,
                       int valid_cols, TokenValues target_logit) {
  KernelTimer timer(KernelKind::CrossEntropy);
  Kokkos::parallel_for(
      "zoptimus::ce_partial_target", Range(0, logits.extent(0)), KOKKOS_LAMBDA(const int t) {
        const int v = targets(t) - vocab_offset;
        target_logit(t) = (v >= 0 && v < valid_cols) ? logits(t, v) : 0.0f;
      });
}

void ce_rescale_sumexp(TokenValues local_max, TokenValues max, TokenValues sumexp) {
  KernelTimer timer(KernelKind::CrossEntropy);
  Kokkos::parallel_for(
      "zoptimus::ce_rescale_sumexp", Range(0, sumexp.extent(0)), KOKKOS_LAMBDA(const int t) {
        if (sumexp(t) > 0.0f) sumexp(t) *= kmath::exp(local_max(t) - max(t));
      });
}

}  // namespace zoptimus

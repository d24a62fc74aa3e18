// Causal attention kernel (see attention.hpp). Host memory: the blocked GEMM form
// (attention_blocked.cpp). Device memory: one work item per (sequence, head, query), three
// passes over the keys (max, normaliser, weighted sum of values), O(1) memory per item; the
// device is meant to get the blocked form through strided-batched GEMMs.
#include "kernels/attention.hpp"

#include "kernels/attention_blocked.hpp"
#include "kernels/fast_math.hpp"
#include "kernels/kernel_times.hpp"
#include "kernels/kokkos_math.hpp"

namespace zoptimus {

namespace {

void causal_attention_per_query(ConstMatrix qkv, int batch, int seq, int heads, int head_dim,
                                Matrix out) {
  const float scale = 1.0f / kmath::sqrt(static_cast<float>(head_dim));
  Kokkos::parallel_for(
      "zoptimus::causal_attention",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<3>>({0, 0, 0}, {batch, heads, seq}),
      KOKKOS_LAMBDA(const int b, const int h, const int i) {
        const int row_i = b * seq + i;
        const int q0 = h * 3 * head_dim, k0 = q0 + head_dim, v0 = q0 + 2 * head_dim;
        float m = -3.0e38f;
        for (int j = 0; j <= i; ++j) {
          float s = 0;
          for (int d = 0; d < head_dim; ++d) s += qkv(row_i, q0 + d) * qkv(b * seq + j, k0 + d);
          s *= scale;
          m = s > m ? s : m;
        }
        float denom = 0;
        for (int d = 0; d < head_dim; ++d) out(row_i, h * head_dim + d) = 0;
        for (int j = 0; j <= i; ++j) {
          const int row_j = b * seq + j;
          float s = 0;
          for (int d = 0; d < head_dim; ++d) s += qkv(row_i, q0 + d) * qkv(row_j, k0 + d);
          const float p = fast_exp(s * scale - m);
          denom += p;
          for (int d = 0; d < head_dim; ++d) out(row_i, h * head_dim + d) += p * qkv(row_j, v0 + d);
        }
        const float inv = 1.0f / denom;
        for (int d = 0; d < head_dim; ++d) out(row_i, h * head_dim + d) *= inv;
      });
}

}  // namespace

void causal_attention(ConstMatrix qkv, int batch, int seq, int heads, int head_dim, Matrix out) {
  KernelTimer timer(KernelKind::Attention);
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) {
    causal_attention_blocked(qkv.data(), static_cast<int>(qkv.stride_0()), batch, seq, heads,
                             head_dim, out.data(), static_cast<int>(out.stride_0()));
  } else {
    causal_attention_per_query(qkv, batch, seq, heads, head_dim, out);
  }
}

}  // namespace zoptimus

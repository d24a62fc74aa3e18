// Causal attention kernel (see attention.hpp). Host memory: the blocked form with an online
// softmax over key tiles (attention_blocked.cpp), O(tile) memory per thread. Device memory:
// strided-batched GEMMs per head and query tile with a softmax kernel between them
// (attention_batched.cpp).
#include "kernels/attention.hpp"

#include "kernels/attention_batched.hpp"
#include "kernels/attention_blocked.hpp"
#include "kernels/kernel_times.hpp"

namespace zoptimus {

void causal_attention(ConstMatrix qkv, int batch, int seq, int heads, int head_dim, Matrix out) {
  KernelTimer timer(KernelKind::Attention);
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) {
    causal_attention_blocked(qkv.data(), static_cast<int>(qkv.stride_0()), batch, seq, heads,
                             head_dim, out.data(), static_cast<int>(out.stride_0()));
  } else {
    causal_attention_batched(qkv, batch, seq, heads, head_dim, out);
  }
}

}  // namespace zoptimus

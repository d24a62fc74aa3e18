// Strided-batched GEMM dispatch (see gemm_batched.hpp).
#include "linalg/gemm_batched.hpp"

#include "core/device_context.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "linalg/blas_handle.hpp"
#include "linalg/gemm_backend.hpp"

namespace zoptimus {

GemmMemory default_gemm_memory() {
  return Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible ? GemmMemory::Host
                                                                             : GemmMemory::Device;
}

void gemm_strided_batched(GemmMemory where, Trans ta, Trans tb, int m, int n, int k, float alpha,
                          StridedOperand a, StridedOperand b, float beta, StridedOutput c,
                          int batch) {
  if (m < 0 || n < 0 || k < 0 || batch < 0)
    fail("gemm_strided_batched: negative size m={} n={} k={} batch={}", m, n, k, batch);
  if (m == 0 || n == 0 || batch == 0) return;
  if (where == GemmMemory::Host) {
    for (int i = 0; i < batch; ++i)
      detail::gemm_cblas(ta, tb, m, n, k, alpha, a.data + i * a.stride, a.ld, b.data + i * b.stride,
                         b.ld, beta, c.data + i * c.stride, c.ld);
    return;
  }
#if defined(ZOPTIMUS_HAVE_CUDA) && defined(KOKKOS_ENABLE_CUDA)
  // On the context's compute instance, ordered with the kernels around it.
  DeviceContext& context = DeviceContext::current();
  detail::gemm_cublas_strided_batched(
      blas_handle(context).cublas(), context.compute().cuda_stream(), ta, tb, m, n, k, alpha,
      a.data, a.ld, a.stride, b.data, b.ld, b.stride, beta, c.data, c.ld, c.stride, batch);
#else
  fail("gemm_strided_batched: device memory in a build without cuBLAS");
#endif
}

}  // namespace zoptimus

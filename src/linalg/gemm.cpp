// Local GEMM dispatch: checks shapes and hands host memory to the CBLAS backend and device
// memory to the cuBLAS backend (one file each, see gemm_backend.hpp).
#include "linalg/gemm.hpp"

#include <algorithm>
#include <climits>
#include <cstddef>

#include "core/device_context.hpp"
#include "core/error.hpp"
#include "linalg/blas_handle.hpp"
#include "linalg/gemm_backend.hpp"

namespace zoptimus {
namespace {

const char* op_name(Trans t) {
  return t == Trans::Yes ? "^T" : "";
}

// Row stride of a row-major View, at least its width (BLAS needs ld >= max(1, cols)).
template <class View>
int leading_dim(const View& v) {
  const std::size_t ld =
      std::max<std::size_t>({std::size_t(1), std::size_t(v.stride_0()), std::size_t(v.extent(1))});
  if (ld > static_cast<std::size_t>(INT_MAX))
    fail("gemm: row stride {} exceeds the BLAS int range", ld);
  return static_cast<int>(ld);
}

int as_int(std::size_t x, const char* what) {
  if (x > static_cast<std::size_t>(INT_MAX))
    fail("gemm: {} = {} exceeds the BLAS int range", what, x);
  return static_cast<int>(x);
}

}  // namespace

void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  if (m < 0 || n < 0 || k < 0) fail("gemm: negative size m={} n={} k={}", m, n, k);
  detail::gemm_cblas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(Trans ta, Trans tb, float alpha, ConstMatrix a, ConstMatrix b, float beta, Matrix c) {
  const std::size_t m = ta == Trans::Yes ? a.extent(1) : a.extent(0);
  const std::size_t ka = ta == Trans::Yes ? a.extent(0) : a.extent(1);
  const std::size_t kb = tb == Trans::Yes ? b.extent(1) : b.extent(0);
  const std::size_t n = tb == Trans::Yes ? b.extent(0) : b.extent(1);
  if (ka != kb || c.extent(0) != m || c.extent(1) != n)
    fail(
        "gemm shape mismatch: A{} is [{}, {}], B{} is [{}, {}], C is [{}, {}]; expected "
        "op(A) [m, k], op(B) [k, n], C [m, n]",
        op_name(ta), a.extent(0), a.extent(1), op_name(tb), b.extent(0), b.extent(1), c.extent(0),
        c.extent(1));
  const int mi = as_int(m, "m"), ni = as_int(n, "n"), ki = as_int(ka, "k");
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) {
    gemm(ta, tb, mi, ni, ki, alpha, a.data(), leading_dim(a), b.data(), leading_dim(b), beta,
         c.data(), leading_dim(c));
  } else {
#if defined(ZOPTIMUS_HAVE_CUDA) && defined(KOKKOS_ENABLE_CUDA)
    if (mi == 0 || ni == 0) return;
    // k == 0: cuBLAS follows BLAS and only scales C by beta.
    // On the context's compute instance, so the GEMM is ordered with the kernels around it.
    DeviceContext& context = DeviceContext::current();
    detail::gemm_cublas(blas_handle(context).cublas(), context.compute().cuda_stream(), ta, tb, mi,
                        ni, ki, alpha, a.data(), leading_dim(a), b.data(), leading_dim(b), beta,
                        c.data(), leading_dim(c));
#else
    fail("gemm: matrices live in a memory space this build has no BLAS for");
#endif
  }
}

}  // namespace zoptimus

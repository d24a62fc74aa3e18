// Local GEMM: CBLAS for host memory and, on CUDA builds, cuBLAS for device memory.
#include "linalg/gemm.hpp"

#include <algorithm>
#include <climits>
#include <cstddef>

#include <cblas.h>

#ifdef ZOPTIMUS_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#include "core/error.hpp"

namespace zoptimus {
namespace {

CBLAS_TRANSPOSE cblas_op(Trans t) {
  return t == Trans::Yes ? CblasTrans : CblasNoTrans;
}

const char* op_name(Trans t) {
  return t == Trans::Yes ? "^T" : "";
}

// C = beta C on an m x n row-major block (the k == 0 case of GEMM).
void scale_host(int m, int n, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i) {
    float* row = c + static_cast<std::ptrdiff_t>(i) * ldc;
    if (beta == 0.0f)
      std::fill(row, row + n, 0.0f);
    else if (beta != 1.0f)
      for (int j = 0; j < n; ++j) row[j] *= beta;
  }
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

#ifdef ZOPTIMUS_HAVE_CUDA
namespace detail {

// ------------------------------ CUDA (device memory) ------------------------------
// cuBLAS is column-major. A row-major X[r,c] with row stride ld is, read column-major, X^T
// with the same ld, so row-major C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T:
// swap the operands and m/n, keep each op and each leading dimension.
void gemm_cublas(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc, cudaStream_t stream) {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) fail("cublasCreate failed");
    return h;
  }();
  cublasSetStream(handle, stream);
  const cublasOperation_t op_a = ta == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = tb == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasStatus_t st =
      cublasSgemm(handle, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc);
  if (st != CUBLAS_STATUS_SUCCESS)
    fail("cublasSgemm failed (status {}) for m={} n={} k={}", static_cast<int>(st), m, n, k);
}

}  // namespace detail
#endif  // ZOPTIMUS_HAVE_CUDA

void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  if (m < 0 || n < 0 || k < 0) fail("gemm: negative size m={} n={} k={}", m, n, k);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_host(m, n, beta, c, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, cblas_op(ta), cblas_op(tb), m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc);
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
    detail::gemm_cublas(ta, tb, mi, ni, ki, alpha, a.data(), leading_dim(a), b.data(),
                        leading_dim(b), beta, c.data(), leading_dim(c),
                        Kokkos::Cuda().cuda_stream());
#else
    fail("gemm: matrices live in a memory space this build has no BLAS for");
#endif
  }
}

}  // namespace zoptimus

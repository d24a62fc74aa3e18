// Device GEMM through cuBLAS, and the cuBLAS handle's lifetime (owned by BlasHandle).
// Compiled only when ZOPTIMUS_HAVE_CUDA (src/CMakeLists.txt leaves it out otherwise).
#ifdef ZOPTIMUS_HAVE_CUDA

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.hpp"
#include "linalg/gemm_backend.hpp"

namespace zoptimus::detail {

void* create_cublas_handle() {
  cublasHandle_t h = nullptr;
  const cublasStatus_t st = cublasCreate(&h);
  if (st != CUBLAS_STATUS_SUCCESS) fail("cublasCreate failed (status {})", static_cast<int>(st));
  return h;
}

void destroy_cublas_handle(void* handle) {
  // Called from a destructor: nothing to report if it fails.
  if (handle) cublasDestroy(static_cast<cublasHandle_t>(handle));
}

// cuBLAS is column-major. A row-major X[r,c] with row stride ld is, read column-major, X^T
// with the same ld, so row-major C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T:
// swap the operands and m/n, keep each op and each leading dimension.
void gemm_cublas(void* handle, cudaStream_t stream, Trans ta, Trans tb, int m, int n, int k,
                 float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
  const auto h = static_cast<cublasHandle_t>(handle);
  cublasStatus_t st = cublasSetStream(h, stream);
  if (st != CUBLAS_STATUS_SUCCESS) fail("cublasSetStream failed (status {})", static_cast<int>(st));
  const cublasOperation_t op_a = ta == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = tb == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  st = cublasSgemm(h, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc);
  if (st != CUBLAS_STATUS_SUCCESS)
    fail("cublasSgemm failed (status {}) for m={} n={} k={}", static_cast<int>(st), m, n, k);
}

void gemm_cublas_strided_batched(void* handle, cudaStream_t stream, Trans ta, Trans tb, int m,
                                 int n, int k, float alpha, const float* a, int lda,
                                 long long stride_a, const float* b, int ldb, long long stride_b,
                                 float beta, float* c, int ldc, long long stride_c, int batch) {
  const auto h = static_cast<cublasHandle_t>(handle);
  cublasStatus_t st = cublasSetStream(h, stream);
  if (st != CUBLAS_STATUS_SUCCESS) fail("cublasSetStream failed (status {})", static_cast<int>(st));
  const cublasOperation_t op_a = ta == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = tb == Trans::Yes ? CUBLAS_OP_T : CUBLAS_OP_N;
  // The same operand swap as gemm_cublas, per batch entry.
  st = cublasSgemmStridedBatched(h, op_b, op_a, n, m, k, &alpha, b, ldb, stride_b, a, lda, stride_a,
                                 &beta, c, ldc, stride_c, batch);
  if (st != CUBLAS_STATUS_SUCCESS)
    fail("cublasSgemmStridedBatched failed (status {}) for m={} n={} k={} batch={}",
         static_cast<int>(st), m, n, k, batch);
}

}  // namespace zoptimus::detail

#endif  // ZOPTIMUS_HAVE_CUDA

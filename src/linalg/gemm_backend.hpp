// The GEMM backends behind linalg/gemm.hpp's dispatcher, one file each: gemm_cblas.cpp (host
// memory) and gemm_cublas.cpp (device memory, compiled only when ZOPTIMUS_HAVE_CUDA).
// Internal to linalg/.
#pragma once

#include "linalg/gemm.hpp"

#ifdef ZOPTIMUS_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace zoptimus::detail {

// Row-major host GEMM through CBLAS; sizes already checked (m, n, k >= 0).
void gemm_cblas(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc);

#ifdef ZOPTIMUS_HAVE_CUDA
// A cuBLAS handle (cublasHandle_t) and its release; BlasHandle owns it.
void* create_cublas_handle();
void destroy_cublas_handle(void* handle);
// Row-major device GEMM on `stream` through the handle; m, n > 0 (k == 0 scales C by beta).
void gemm_cublas(void* handle, cudaStream_t stream, Trans ta, Trans tb, int m, int n, int k,
                 float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc);
// The strided-batched form (cublasSgemmStridedBatched); m, n, batch > 0.
void gemm_cublas_strided_batched(void* handle, cudaStream_t stream, Trans ta, Trans tb, int m,
                                 int n, int k, float alpha, const float* a, int lda,
                                 long long stride_a, const float* b, int ldb, long long stride_b,
                                 float beta, float* c, int ldc, long long stride_c, int batch);
#endif

}  // namespace zoptimus::detail

// Local GEMM dispatch: row-major C = alpha op(A) op(B) + beta C through CBLAS (or cuBLAS).
#pragma once

#include "core/types.hpp"

namespace zoptimus {

enum class Trans { No, Yes };

// Row-major, host memory: C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C. lda/ldb/ldc are row
// strides (elements). With m, n or k == 0 no BLAS call is made: C is only scaled by beta
// (set to 0 when beta == 0, as BLAS does, so NaNs in C do not survive).
void gemm(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc);

// The same on Views: m, n, k come from the shapes, which must agree (zoptimus::Error names
// them otherwise). Host memory goes to CBLAS; device memory to cuBLAS on CUDA builds.
void gemm(Trans ta, Trans tb, float alpha, ConstMatrix a, ConstMatrix b, float beta, Matrix c);

}  // namespace zoptimus

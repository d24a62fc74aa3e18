// Host GEMM through CBLAS (row-major).
#include <algorithm>
#include <cstddef>

#include <cblas.h>

#include "linalg/gemm_backend.hpp"

namespace zoptimus::detail {
namespace {

CBLAS_TRANSPOSE cblas_op(Trans t) {
  return t == Trans::Yes ? CblasTrans : CblasNoTrans;
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

}  // namespace

void gemm_cblas(Trans ta, Trans tb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_host(m, n, beta, c, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, cblas_op(ta), cblas_op(tb), m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc);
}

}  // namespace zoptimus::detail

// GPU test (CUDA builds only): the cuBLAS GEMM backend against the CBLAS backend on the same
// row-major inputs, for every transpose combination and with row strides larger than the
// rows. Skips, saying why, when no CUDA device is visible (the CI machine has the toolkit
// and no GPU).
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "linalg/gemm_backend.hpp"

namespace zoptimus {
namespace {

// Empty when a device is visible, else the reason none is.
std::string no_gpu_reason() {
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(st);
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return "";
}

void check(cudaError_t st) {
  ASSERT_EQ(st, cudaSuccess) << cudaGetErrorString(st);
}

// A device copy of a host vector, freed on scope exit.
struct DeviceBuffer {
  float* ptr = nullptr;
  explicit DeviceBuffer(const std::vector<float>& host) {
    check(cudaMalloc(&ptr, host.size() * sizeof(float)));
    check(cudaMemcpy(ptr, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
};

TEST(GemmCublas, MatchesCblasForEveryTransposeCombination) {
  const std::string why = no_gpu_reason();
  if (!why.empty()) GTEST_SKIP() << "no GPU visible (" << why << "); cuBLAS GEMM not run";

  const int m = 37, n = 23, k = 41, pad = 3;  // odd sizes, strides larger than the rows
  const float alpha = 0.7f, beta = 0.3f;
  std::mt19937 gen(12345);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  void* handle = detail::create_cublas_handle();
  for (Trans ta : {Trans::No, Trans::Yes}) {
    for (Trans tb : {Trans::No, Trans::Yes}) {
      // Stored shapes: A is [m,k] or [k,m], B is [k,n] or [n,k], all row-major.
      const int a_rows = ta == Trans::No ? m : k, a_cols = ta == Trans::No ? k : m;
      const int b_rows = tb == Trans::No ? k : n, b_cols = tb == Trans::No ? n : k;
      const int lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
      std::vector<float> a(a_rows * lda), b(b_rows * ldb), c(m * ldc);
      for (float& v : a) v = uni(gen);
      for (float& v : b) v = uni(gen);
      for (float& v : c) v = uni(gen);

      std::vector<float> expected = c;
      detail::gemm_cblas(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                         expected.data(), ldc);
      DeviceBuffer da(a), db(b), dc(c);
      detail::gemm_cublas(handle, nullptr, ta, tb, m, n, k, alpha, da.ptr, lda, db.ptr, ldb, beta,
                          dc.ptr, ldc);
      check(cudaDeviceSynchronize());
      std::vector<float> got(c.size());
      check(cudaMemcpy(got.data(), dc.ptr, got.size() * sizeof(float), cudaMemcpyDeviceToHost));

      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          // fp32 sums of k products in any order differ by at most about k * eps times the
          // sum of the magnitudes of the terms; 2x that is the tolerance.
          double magnitude = std::fabs(beta * c[i * ldc + j]);
          for (int l = 0; l < k; ++l) {
            const float av = ta == Trans::No ? a[i * lda + l] : a[l * lda + i];
            const float bv = tb == Trans::No ? b[l * ldb + j] : b[j * ldb + l];
            magnitude += std::fabs(alpha * av * bv);
          }
          const double tol = 2.0 * k * FLT_EPSILON * magnitude;
          ASSERT_NEAR(got[i * ldc + j], expected[i * ldc + j], tol)
              << "ta=" << (ta == Trans::Yes) << " tb=" << (tb == Trans::Yes) << " at (" << i << ","
              << j << ")";
        }
        // The padding columns of C are not written.
        for (int j = n; j < ldc; ++j) ASSERT_EQ(got[i * ldc + j], c[i * ldc + j]);
      }
    }
  }
  detail::destroy_cublas_handle(handle);
}

}  // namespace
}  // namespace zoptimus

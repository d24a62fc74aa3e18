// Local GEMM: every op(A) op(B) combination, strided operands, alpha/beta, k == 0, and
// shape errors, against plain loops.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "linalg/gemm.hpp"

namespace zoptimus {
namespace {

// Small multiples of 1/4: every product and sum below is exact in float.
float entry(int seed, int i, int j) {
  return float((seed * 5 + i * 7 + j * 3) % 9 - 4) * 0.25f;
}

TEST(Gemm, AllTransposeCombinationsWithStridesAlphaAndBeta) {
  const int m = 5, n = 7, k = 6, pad = 3;
  for (Trans ta : {Trans::No, Trans::Yes})
    for (Trans tb : {Trans::No, Trans::Yes}) {
      // Stored shapes: A is [m,k] or [k,m]; B is [k,n] or [n,k]; each row padded by `pad`.
      const int ar = ta == Trans::No ? m : k, ac = ta == Trans::No ? k : m;
      const int br = tb == Trans::No ? k : n, bc = tb == Trans::No ? n : k;
      const int lda = ac + pad, ldb = bc + pad, ldc = n + pad;
      std::vector<float> a(ar * lda), b(br * ldb), c(m * ldc);
      for (int i = 0; i < ar; ++i)
        for (int j = 0; j < ac; ++j) a[i * lda + j] = entry(1, i, j);
      for (int i = 0; i < br; ++i)
        for (int j = 0; j < bc; ++j) b[i * ldb + j] = entry(2, i, j);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < ldc; ++j) c[i * ldc + j] = entry(3, i, j);
      const std::vector<float> c0 = c;
      const float alpha = 0.5f, beta = -2.0f;
      gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < ldc; ++j) {
          if (j >= n) {
            EXPECT_EQ(c[i * ldc + j], c0[i * ldc + j]) << "padding must stay untouched";
            continue;
          }
          float sum = 0.0f;
          for (int l = 0; l < k; ++l) {
            const float av = ta == Trans::No ? a[i * lda + l] : a[l * lda + i];
            const float bv = tb == Trans::No ? b[l * ldb + j] : b[j * ldb + l];
            sum += av * bv;
          }
          EXPECT_EQ(c[i * ldc + j], alpha * sum + beta * c0[i * ldc + j])
              << "ta=" << int(ta) << " tb=" << int(tb) << " (" << i << "," << j << ")";
        }
    }
}

TEST(Gemm, ZeroInnerDimensionOnlyScalesC) {
  std::vector<float> c = {1, 2, 3, 4, 5, 6};
  gemm(Trans::No, Trans::No, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 3.0f, c.data(), 3);
  EXPECT_EQ(c, (std::vector<float>{3, 6, 9, 12, 15, 18}));
  c.assign(6, std::numeric_limits<float>::quiet_NaN());
  gemm(Trans::No, Trans::No, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, c.data(), 3);
  for (float v : c) EXPECT_EQ(v, 0.0f);
  gemm(Trans::No, Trans::No, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 3);
}

TEST(Gemm, ViewOverloadDerivesShapesAndIgnoresOldCWhenBetaIsZero) {
  Matrix a("a", 3, 4), b("b", 2, 4), c("c", 3, 2);
  auto ha = Kokkos::create_mirror_view(a);
  auto hb = Kokkos::create_mirror_view(b);
  auto hc = Kokkos::create_mirror_view(c);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) ha(i, j) = entry(4, i, j);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) hb(i, j) = entry(5, i, j);
  Kokkos::deep_copy(hc, std::numeric_limits<float>::quiet_NaN());
  Kokkos::deep_copy(a, ha);
  Kokkos::deep_copy(b, hb);
  Kokkos::deep_copy(c, hc);
  gemm(Trans::No, Trans::Yes, 1.0f, a, b, 0.0f, c);
  Kokkos::deep_copy(hc, c);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      float sum = 0.0f;
      for (int l = 0; l < 4; ++l) sum += ha(i, l) * hb(j, l);
      EXPECT_EQ(hc(i, j), sum);
    }
}

TEST(Gemm, ShapeMismatchNamesTheShapes) {
  Matrix a("a", 3, 4), b("b", 5, 2), c("c", 3, 2);
  try {
    gemm(Trans::No, Trans::No, 1.0f, a, b, 0.0f, c);
    FAIL() << "expected zoptimus::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[3, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[5, 2]"), std::string::npos) << msg;
  }
  Matrix wrong_c("c", 2, 2);
  EXPECT_THROW(gemm(Trans::No, Trans::No, 1.0f, a, Matrix("b", 4, 2), 0.0f, wrong_c), Error);
}

}  // namespace
}  // namespace zoptimus

// The Gaussian generator and the fused ZO pass built on it: every word of the batched Philox
// equals Random123's, the float Box-Muller matches a double-precision libm Box-Muller on the
// same uniforms, the batched and scalar forms give the same bits, the samples have N(0, 1)
// moments, and the two forms of the fused update + perturbation pass agree bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/philox_normal.hpp"
#include "kernels/philox_normal_batch.hpp"
#include "optim/zo_fused_pass.hpp"

namespace zoptimus {
namespace {

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Seeds and streams with high words set, and counters that cross 2^32 quads.
const std::uint64_t kSeeds[] = {0, 42, 0xFEEDBEEFCAFE1234ull};
const std::uint64_t kStreams[] = {0, 7, 0x100000005ull};
const std::uint64_t kFirstQuads[] = {0, 12345, (1ull << 32) - 40};

TEST(PhiloxNormal, BatchEqualsScalarBitForBit) {
  std::int64_t compared = 0, differ = 0;
  for (std::uint64_t seed : kSeeds)
    for (std::uint64_t stream : kStreams)
      for (std::uint64_t q0 : kFirstQuads)
        for (int b = 0; b < 8; ++b) {
          float batch[kNormalBatch];
          const std::uint64_t first = q0 + static_cast<std::uint64_t>(b) * kNormalBatchQuads;
          philox_normal_batch(seed, stream, first, batch);
          for (int q = 0; q < kNormalBatchQuads; ++q) {
            const Normal4 s = philox_normal4(seed, stream, first + q);
            for (int e = 0; e < 4; ++e, ++compared)
              differ += bits(s.v[e]) != bits(batch[4 * q + e]);
          }
        }
  std::printf("batched vs scalar generator: %lld normals compared, %lld differ\n",
              static_cast<long long>(compared), static_cast<long long>(differ));
  EXPECT_EQ(differ, 0);
}

// The float polynomials against double libm on the same Random123 words. The bound: float
// rounding of a ~10-operation evaluation (a few ulp, ~3e-7 relative) times the radius, which
// reaches 5.8 at u1 = 2^-24.
TEST(PhiloxNormal, MatchesDoubleBoxMullerOnRandom123Words) {
  double worst = 0;
  for (std::uint64_t seed : kSeeds)
    for (std::uint64_t q = 0; q < 100000; ++q) {
      r123::Philox4x32 rng;
      const r123::Philox4x32::ctr_type ctr = {
          {static_cast<std::uint32_t>(q), 0u, static_cast<std::uint32_t>(seed >> 32), 0u}};
      const r123::Philox4x32::key_type key = {{static_cast<std::uint32_t>(seed), 3u}};
      const auto r = rng(ctr, key);
      const Normal4 n = philox_normal4(seed, 3, q);
      for (int pair = 0; pair < 2; ++pair) {
        const double u1 = ((r[2 * pair] >> 8) + 1.0) / 16777216.0;
        const double u2 = (r[2 * pair + 1] >> 8) / 16777216.0;
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double c = radius * std::cos(2 * M_PI * u2), s = radius * std::sin(2 * M_PI * u2);
        worst = std::max(worst, std::fabs(c - n.v[2 * pair]) / std::max(1.0, radius));
        worst = std::max(worst, std::fabs(s - n.v[2 * pair + 1]) / std::max(1.0, radius));
      }
    }
  std::printf("float Box-Muller vs double libm: max error %.3g (relative to max(1, radius))\n",
              worst);
  EXPECT_LT(worst, 1e-6);
}

// Sample moments of 2^22 normals: each estimate's standard error is sqrt(var/N) with
// var(z) = 1, var(z^2) = 2, var(z^3) = 15, var(z^4) = 96; 6 standard errors bound them.
TEST(PhiloxNormal, MomentsAreStandardNormal) {
  const int quads = 1 << 20;
  const double n = 4.0 * quads;
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  float batch[kNormalBatch];
  for (int b = 0; b < quads / kNormalBatchQuads; ++b) {
    philox_normal_batch(2024, 1, static_cast<std::uint64_t>(b) * kNormalBatchQuads, batch);
    for (float z : batch) {
      const double d = z;
      m1 += d, m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
    }
  }
  m1 /= n, m2 /= n, m3 /= n, m4 /= n;
  std::printf("moments of %.0f normals: mean %.5f, E z^2 %.5f, E z^3 %.5f, E z^4 %.5f\n", n, m1, m2,
              m3, m4);
  EXPECT_NEAR(m1, 0.0, 6 * std::sqrt(1 / n));
  EXPECT_NEAR(m2, 1.0, 6 * std::sqrt(2 / n));
  EXPECT_NEAR(m3, 0.0, 6 * std::sqrt(15 / n));
  EXPECT_NEAR(m4, 3.0, 6 * std::sqrt(96 / n));
}

// One block of a tensor, padded and at an unaligned global offset, run through both forms of
// the fused pass (update with two directions, momentum, weight decay, a Sparse mask, and a
// perturbation): theta, the velocity and both perturbed copies must be bitwise equal. Also
// with one direction and no momentum (the common step).
TEST(FusedPass, RowAndQuadFormsAgreeBitForBit) {
  const int rows = 7, cols = 613, valid_rows = 6, valid_cols = 601;
  for (const bool one_direction : {false, true})
    for (const Perturbation dist : {Perturbation::Gaussian, Perturbation::Rademacher})
      for (const float threshold : {std::numeric_limits<float>::infinity(), 0.5f}) {
        Matrix state[2][4];  // [form][theta, velocity, plus, minus]
        for (auto& form : state) {
          for (auto& m : form) m = Matrix("m", rows, cols);
          auto th = Kokkos::create_mirror_view(form[0]);
          auto v = Kokkos::create_mirror_view(form[1]);
          for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) {
              const bool valid = i < valid_rows && j < valid_cols;
              const std::uint64_t g = static_cast<std::uint64_t>(i) * cols + j;
              th(i, j) = valid ? philox_normal(99, 1, g) * 0.6f : 0.0f;
              v(i, j) = valid ? philox_normal(99, 2, g) * 0.01f : 0.0f;
            }
          th(0, 1) = -0.0f;  // signed zeros must come out the same too
          Kokkos::deep_copy(form[0], th);
          Kokkos::deep_copy(form[1], v);
        }
        Kokkos::View<std::uint64_t*, MemSpace> seeds("seeds", 2);
        Kokkos::View<double*, MemSpace> coeffs("coeffs", 2);
        auto hs = Kokkos::create_mirror_view(seeds);
        auto hc = Kokkos::create_mirror_view(coeffs);
        hs(0) = 11, hs(1) = 0xABCDEF0123ull, hc(0) = 0.75, hc(1) = -1.25;
        Kokkos::deep_copy(seeds, hs);
        Kokkos::deep_copy(coeffs, hc);
        for (int form = 0; form < 2; ++form) {
          FusedPass p;
          p.theta = state[form][0], p.velocity = one_direction ? Matrix() : state[form][1];
          p.plus = state[form][2], p.minus = state[form][3];
          p.seeds = seeds, p.coeffs = coeffs, p.directions = one_direction ? 1 : 2;
          p.perturb = true;
          p.seed = 12345, p.stream = 5;
          p.row_offset = 3, p.col_offset = 1, p.global_cols = cols + 2;  // unaligned row starts
          p.valid_rows = valid_rows, p.valid_cols = valid_cols;
          p.lr = 1e-2, p.lambda = 0.1, p.mu = 0.9, p.eps = 1e-3f, p.threshold = threshold;
          p.distribution = dist;
          if (form == 0)
            run_fused_pass_rows(p);
          else
            run_fused_pass_quads(p);
          Kokkos::fence();
        }
        std::int64_t differ = 0;
        for (int k = 0; k < 4; ++k) {
          auto a = Kokkos::create_mirror_view_and_copy(HostSpace(), state[0][k]);
          auto b = Kokkos::create_mirror_view_and_copy(HostSpace(), state[1][k]);
          for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) differ += bits(a(i, j)) != bits(b(i, j));
        }
        // Not vacuous: exactly the valid entries inside the mask (on the updated theta) are
        // perturbed, and padding stays zero in every output.
        auto th = Kokkos::create_mirror_view_and_copy(HostSpace(), state[0][0]);
        auto pl = Kokkos::create_mirror_view_and_copy(HostSpace(), state[0][2]);
        auto mi = Kokkos::create_mirror_view_and_copy(HostSpace(), state[0][3]);
        std::int64_t in_mask = 0, perturbed = 0, padding_nonzero = 0, off_size = 0;
        for (int i = 0; i < rows; ++i)
          for (int j = 0; j < cols; ++j) {
            if (i < valid_rows && j < valid_cols) {
              in_mask += std::fabs(th(i, j)) <= threshold;
              perturbed += pl(i, j) != mi(i, j);
              // +-1 directions move every perturbed entry by eps exactly, up to float rounding
              // of theta +- eps (|theta| < 4 here: ulp <= 4.8e-7, two roundings).
              if (dist == Perturbation::Rademacher && pl(i, j) != mi(i, j))
                off_size += std::fabs(std::fabs(pl(i, j) - mi(i, j)) - 2e-3) > 1e-6;
            } else {
              padding_nonzero += th(i, j) != 0.0f || pl(i, j) != 0.0f || mi(i, j) != 0.0f;
            }
          }
        std::printf(
            "fused pass, %s, %s, threshold %g: %lld of %d values differ between the two forms; "
            "%lld entries in the mask, %lld perturbed\n",
            one_direction ? "one direction" : "two directions + momentum",
            std::string(choice_name(dist)).c_str(), threshold, static_cast<long long>(differ),
            4 * rows * cols, static_cast<long long>(in_mask), static_cast<long long>(perturbed));
        EXPECT_EQ(differ, 0);
        EXPECT_EQ(perturbed, in_mask);
        EXPECT_GT(in_mask, 0);
        EXPECT_EQ(padding_nonzero, 0);
        EXPECT_EQ(off_size, 0);
      }
}

}  // namespace
}  // namespace zoptimus

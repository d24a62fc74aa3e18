// The Rademacher directions (kernels/perturbation.hpp): entry g of (seed, stream) is bit
// g mod 128 of Random123's Philox4x32 output for counter g / 128, +1 where set; the batched
// host form equals the per-quad form; the signs have the moments of a fair +-1 variable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <Random123/philox.h>

#include "kernels/perturbation.hpp"

namespace zoptimus {
namespace {

const std::uint64_t kSeeds[] = {0, 42, 0xFEEDBEEFCAFE1234ull};
const std::uint64_t kStreams[] = {0, 7, 0x100000005ull};
// Counters near 2^32 (index 2^39) check the high counter word.
const std::uint64_t kFirstQuads[] = {0, 12345, (1ull << 37) - 40};

// The reference, written from Random123 alone.
float reference_sign(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const std::uint64_t counter = index >> 7;
  r123::Philox4x32 rng;
  const r123::Philox4x32::ctr_type ctr = {
      {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32),
       static_cast<std::uint32_t>(seed >> 32), static_cast<std::uint32_t>(stream >> 32)}};
  const r123::Philox4x32::key_type key = {
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(stream)}};
  const auto r = rng(ctr, key);
  const unsigned bit = static_cast<unsigned>(index & 127);
  return ((r[bit / 32] >> (bit % 32)) & 1u) ? 1.0f : -1.0f;
}

TEST(PhiloxSign, QuadAndBatchFormsEqualTheRandom123Reference) {
  std::int64_t compared = 0, differ = 0;
  for (std::uint64_t seed : kSeeds)
    for (std::uint64_t stream : kStreams)
      for (std::uint64_t q0 : kFirstQuads)
        for (int b = 0; b < 4; ++b) {
          // Batches start at quads that are not multiples of 32 too (row chunks do).
          const std::uint64_t first = q0 + static_cast<std::uint64_t>(b) * 21;
          float batch[kNormalBatch];
          direction_batch(Perturbation::Rademacher, seed, stream, first, batch);
          for (int q = 0; q < kNormalBatchQuads; ++q) {
            const Normal4 s = direction4(Perturbation::Rademacher, seed, stream, first + q);
            for (int e = 0; e < 4; ++e, ++compared) {
              const float ref = reference_sign(seed, stream, 4 * (first + q) + e);
              differ += s.v[e] != ref || batch[4 * q + e] != ref;
            }
          }
        }
  std::printf("Rademacher: %lld signs compared with Random123, %lld differ\n",
              static_cast<long long>(compared), static_cast<long long>(differ));
  EXPECT_GT(compared, 0);
  EXPECT_EQ(differ, 0);
}

// Mean 0, second moment exactly 1, neighbouring entries and the same entry under the next
// seed uncorrelated: each mean of n products of +-1 has standard deviation 1/sqrt(n), so a
// bound of 6/sqrt(n) fails a correct generator with probability ~2e-9 per check.
TEST(PhiloxSign, MomentsOfAFairSign) {
  const std::int64_t n = 1 << 22;
  double sum = 0, lag1 = 0, lag32 = 0, seeds = 0;
  float prev = 0, window[32] = {};
  for (std::int64_t g = 0; g < n; ++g) {
    const float z = direction(Perturbation::Rademacher, 5, 3, static_cast<std::uint64_t>(g));
    ASSERT_TRUE(z == 1.0f || z == -1.0f) << g;
    sum += z;
    if (g > 0) lag1 += z * prev;
    if (g >= 32) lag32 += z * window[g % 32];
    seeds += z * direction(Perturbation::Rademacher, 6, 3, static_cast<std::uint64_t>(g));
    prev = z;
    window[g % 32] = z;
  }
  const double bound = 6.0 / std::sqrt(static_cast<double>(n));
  std::printf(
      "Rademacher over %lld entries: mean %.2e, lag-1 %.2e, lag-32 %.2e, next seed %.2e "
      "(bound %.2e)\n",
      static_cast<long long>(n), sum / n, lag1 / n, lag32 / n, seeds / n, bound);
  EXPECT_LT(std::fabs(sum / n), bound);
  EXPECT_LT(std::fabs(lag1 / n), bound);
  EXPECT_LT(std::fabs(lag32 / n), bound);
  EXPECT_LT(std::fabs(seeds / n), bound);
}

// The Gaussian and Rademacher directions of one seed are different vectors (the option is not
// ignored somewhere along the dispatch).
TEST(PhiloxSign, DistributionsDiffer) {
  int same = 0;
  for (std::uint64_t g = 0; g < 1024; ++g)
    same +=
        direction(Perturbation::Rademacher, 9, 1, g) == direction(Perturbation::Gaussian, 9, 1, g);
  EXPECT_EQ(same, 0);
}

}  // namespace
}  // namespace zoptimus

// The kernel of ZoWeights (zo_weights.hpp): one pass over the local block of one tensor that
//   1. applies the pending update  d = lambda theta + sum_p c_p m z_p ; (v = mu v + d) ;
//      theta -= lr d   (m: Sparse-MeZO mask |theta| <= h on the pre-update theta),
//   2. writes plus = theta + eps m z and minus = theta - eps m z for the next perturbation
//      (m on the updated theta),
// with every z regenerated from (seed, tensor id, global index) (kernels/perturbation.hpp). Padding
// (rows >= vr or columns >= vc) never moves and gets no perturbation.
//
// Two forms give the same bits: one work item per aligned quad of a row (devices: one
// Philox call per thread), and batched row chunks (host: the generator vectorizes across
// 64 quads). run_fused_pass picks the one for the default execution space.
#pragma once

#include <cstdint>

#include "core/choices.hpp"
#include "core/types.hpp"

namespace zoptimus {

struct FusedPass {
  Matrix theta;
  Matrix velocity;     // momentum buffer; empty without momentum
  Matrix plus, minus;  // perturbed copies; written only when perturb
  Kokkos::View<const std::uint64_t*, MemSpace> seeds;  // directions of the pending update
  Kokkos::View<const double*, MemSpace> coeffs;        // c_p (0: skipped, no RNG work)
  int directions = 0;                                  // pending directions to apply; 0 = no update
  bool perturb = false;
  std::uint64_t seed = 0;    // of the perturbation
  std::uint64_t stream = 0;  // tensor id
  std::int64_t row_offset = 0, col_offset = 0, global_cols = 0;
  int valid_rows = 0, valid_cols = 0;
  double lr = 0, lambda = 0, mu = 0;
  float eps = 0, threshold = 0;
  Perturbation distribution = Perturbation::Gaussian;  // of every z, pending and new
};

void run_fused_pass(const FusedPass& p);
// The two forms, callable directly so tests can check that they agree.
void run_fused_pass_quads(const FusedPass& p);
void run_fused_pass_rows(const FusedPass& p);  // host-accessible memory only

}  // namespace zoptimus

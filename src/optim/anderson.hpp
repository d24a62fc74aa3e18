// Anderson extrapolation (type II, Walker-Ni) on top of ZO-SGD, docs/design.md. The ZO step is
// the fixed-point map T(x) = x - lr g(x); residual f_k = T(x_k) - x_k = -lr (1/n) sum_p g_p z_p.
// With window m:  gamma = argmin || f_k - dF gamma ||  via the regularised normal equations
// (dF^T dF + lambda ||dF^T dF|| I) gamma = dF^T f_k  (in double), and
// x_{k+1} = x_k + beta f_k - (dX + beta dF) gamma.
//
// Nothing parameter-sized is stored: every f_i and x_{i+1} - x_i is a coefficient vector over
// the directions z generated since the last restart (the anchor), and the update is applied as
// a sum of regenerated directions. Because x_{i+1} - x_i involves older differences, that span
// grows; the history restarts when ||gamma|| exceeds max_gamma_norm, when the running mean of
// (l+ + l-)/2 rises over a window, and every 2 (m + 1) steps to bound the regeneration cost.
// m = 0 is plain ZO-SGD with step beta lr (exactly MeZO for beta = 1).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "model/parameter_store.hpp"
#include "optim/anderson_stats.hpp"
#include "optim/zo_weights.hpp"
#include "parallel/collectives.hpp"

namespace zoptimus {

class AndersonMixer {
 public:
  // n_perturb: directions per step (optim.n_perturb); Gram sums are reduced over the world.
  // dist: the distribution of the ZO directions (optim.perturbation).
  AndersonMixer(const AndersonConfig& config, int n_perturb, Perturbation dist,
                const ParameterStore& params, Collectives& comm);

  // The update to apply after step `step` measured g (one per perturbation, seeds given) with
  // learning rate lr on the tensors in `active` (empty: all). thresholds: Sparse-MeZO masks.
  ZoUpdate next(std::int64_t step, const std::vector<std::uint64_t>& seeds,
                const std::vector<double>& g, double lr, double loss,
                const std::vector<char>& active, const std::vector<float>& thresholds);

  // What the run log records for replay: [anchor step, directions, coefficients...] of the
  // update just returned (empty for a plain step).
  const std::vector<double>& logged() const { return logged_; }
  const std::vector<double>& gamma() const { return gamma_; }

  // The whole history (directions, residual and step coefficients, loss window, anchor) as
  // checkpoint arrays, so a restart continues the same extrapolation.
  void save(std::map<std::string, std::vector<double>>& reals,
            std::map<std::string, std::vector<std::int64_t>>& integers) const;
  void load(const std::map<std::string, std::vector<double>>& reals,
            const std::map<std::string, std::vector<std::int64_t>>& integers);
  int restarts() const { return restarts_; }
  const AndersonStats& stats() const { return stats_; }  // this run (not checkpointed)
  // Sparse-MeZO recomputed its thresholds: the history's directions, regenerated under the
  // new masks, are no longer the steps that were taken, so the history restarts.
  void masks_changed();
  // A restart switched optim.perturbation: the history's seeds would regenerate other
  // directions than the steps took, so the history restarts (as for new masks).
  void distribution_changed();

 private:
  struct Direction {
    std::int64_t step;
    std::uint64_t seed;
    std::vector<char> active;  // per tensor (empty: all)
  };
  void restart();
  std::vector<double> gram(const std::vector<int>& dirs, const std::vector<float>& thresholds);

  AndersonConfig cfg_;
  int n_perturb_;
  Perturbation dist_;
  const ParameterStore& params_;
  Collectives& comm_;                       // the Gram's world allreduce
  std::vector<double> entries_per_tensor_;  // global sizes, for the diagonal Gram

  std::vector<Direction> dirs_;         // directions since the anchor
  std::deque<std::vector<double>> f_;   // previous residuals over dirs_, newest last (<= m)
  std::deque<std::int64_t> f_steps_;    // the step of each residual (skipped steps have none)
  std::deque<std::vector<double>> dx_;  // previous x_{i+1} - x_i over dirs_ (<= m)
  std::deque<double> losses_;           // (l+ + l-)/2 for the rise test
  std::int64_t anchor_step_ = 0;
  int restarts_ = 0;
  std::vector<double> logged_, gamma_;
  AndersonStats stats_;
};

}  // namespace zoptimus

// Anderson-accelerated ZO-SGD end to end against an independent dense implementation: whole
// parameter vectors (double), directions generated entry by entry, losses from the serial
// reference forward (tests/support/reference_opt), the residual history stored as explicit
// vectors and the least-squares problem solved by Cholesky. The engine (compact history,
// exact Gram of regenerated directions, update fused into the next step's pass) must give the
// same l+/l- at every step, the same mixing decisions and gammas, and the same final weights.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <string>

#include "kernels/perturbation.hpp"
#include "optim/step_seeds.hpp"
#include "support/reference_model.hpp"
#include "support/zo_test_support.hpp"

namespace zoptimus {
namespace {

struct Case {
  std::string name, method;
  int m, n_perturb;
  double beta, max_gamma_norm;
  bool safeguard_restarts;  // the case is chosen so that ||gamma|| > max_gamma_norm happens
  Perturbation dist = Perturbation::Gaussian;
};

Config case_config(const Case& k) {
  Config c = testing::base_config(k.method);
  c.model.layers = 2;
  c.optim.weight_decay = 0;
  c.optim.eps = 1e-2;  // g = (l+ - l-) / 2 eps: a larger eps keeps forward rounding out of g
  c.optim.n_perturb = k.n_perturb;
  c.optim.perturbation = k.dist;
  c.optim.anderson.m = k.m;
  c.optim.anderson.beta = k.beta;
  c.optim.anderson.max_gamma_norm = k.max_gamma_norm;
  c.optim.anderson.lambda = 1e-8;
  c.run.steps = 24;
  return c;
}

// Flat layout of the valid entries of every tensor (1 rank: the block is the tensor).
struct Layout {
  std::vector<TensorInfo> tensors;
  std::vector<std::size_t> offset;  // per tensor id; offset.back() = N
  explicit Layout(const ParameterStore& p) : tensors(p.tensors()) {
    offset.push_back(0);
    for (const auto& t : tensors) offset.push_back(offset.back() + t.rows * t.cols);
  }
  std::size_t size() const { return offset.back(); }
};

std::vector<double> flatten(const ParameterStore& p, const Layout& lay) {
  std::vector<double> x(lay.size());
  for (const auto& t : p.tensors()) {
    auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), p.data(t.id));
    for (std::int64_t i = 0; i < t.rows; ++i)
      for (std::int64_t j = 0; j < t.cols; ++j) x[lay.offset[t.id] + i * t.cols + j] = h(i, j);
  }
  return x;
}

double reference_loss(const Config& c, const Layout& lay, const std::vector<double>& x,
                      const Batch& b) {
  reference::Params p;
  for (const auto& t : lay.tensors)
    p.tensors[t.name] =
        std::vector<float>(x.begin() + lay.offset[t.id], x.begin() + lay.offset[t.id + 1]);
  const auto l =
      reference::lm_loss(test_support::reference_dims(c.model), p, b.tokens, b.batch, b.seq, -1);
  return l.first / l.second;
}

// z of one seed over every entry, zero on tensors outside `layers` (LeZO; empty: all).
std::vector<double> direction(const Layout& lay, std::uint64_t seed, const std::vector<int>& layers,
                              Perturbation dist) {
  std::vector<double> z(lay.size(), 0.0);
  for (const auto& t : lay.tensors) {
    const bool on = layers.empty() || t.layer < 0 ||
                    std::find(layers.begin(), layers.end(), t.layer) != layers.end();
    if (!on) continue;
    for (std::int64_t e = 0; e < t.rows * t.cols; ++e)
      z[lay.offset[t.id] + e] = direction(dist, seed, t.id, static_cast<std::uint64_t>(e));
  }
  return z;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Solves the SPD system G g = r by Cholesky; false when G is not positive definite.
bool cholesky_solve(std::vector<double> G, std::vector<double> r, int n, std::vector<double>& g) {
  for (int j = 0; j < n; ++j) {
    double d = G[j * n + j];
    for (int k = 0; k < j; ++k) d -= G[j * n + k] * G[j * n + k];
    if (!(d > 0)) return false;
    G[j * n + j] = std::sqrt(d);
    for (int i = j + 1; i < n; ++i) {
      double s = G[i * n + j];
      for (int k = 0; k < j; ++k) s -= G[i * n + k] * G[j * n + k];
      G[i * n + j] = s / G[j * n + j];
    }
  }
  for (int i = 0; i < n; ++i) {  // L y = r
    for (int k = 0; k < i; ++k) r[i] -= G[i * n + k] * r[k];
    r[i] /= G[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {  // L^T g = y
    for (int k = i + 1; k < n; ++k) r[i] -= G[k * n + i] * r[k];
    r[i] /= G[i * n + i];
  }
  g = r;
  for (double v : g)
    if (!std::isfinite(v)) return false;
  return true;
}

struct DenseStep {
  std::vector<double> loss_plus, loss_minus, gamma;  // gamma empty: plain step
};

struct DenseRun {
  std::vector<DenseStep> steps;
  std::vector<double> x;
  int mixed = 0, safeguard = 0, restarts = 0;
};

// Anderson type II (Walker-Ni) on ZO-SGD with whole vectors: f_k = -lr/n sum_p g_p z_p,
// gamma = argmin ||f_k - dF gamma|| (regularised normal equations), x += beta f_k -
// (dX + beta dF) gamma; history restarts on a failed or too large gamma, when the mean loss
// of the last m+1 steps exceeds that of the m+1 before, and 2(m+1) steps after the anchor.
// m = 0 is plain ZO-SGD. `layers`: the LeZO subset of each step, as the run drew it.
DenseRun dense_anderson(const Config& c, const Layout& lay, std::vector<double> x,
                        const std::vector<Batch>& batches,
                        const std::vector<std::vector<int>>& layers) {
  const auto& a = c.optim.anderson;
  const int n = c.optim.n_perturb, w = a.m + 1;
  const double lr = c.optim.lr, eps = c.optim.eps;
  const std::size_t N = lay.size();
  std::deque<std::vector<double>> F, X;
  std::deque<double> losses;
  std::int64_t anchor = 0;
  DenseRun out;
  for (int k = 0; k < c.run.steps; ++k) {
    if (F.empty() && losses.empty()) anchor = k;
    DenseStep s;
    std::vector<double> f(N, 0.0);
    double loss = 0;
    for (int p = 0; p < n; ++p) {
      const auto seed = perturbation_seed(static_cast<std::uint64_t>(c.run.seed), k, p);
      const std::vector<double> z = direction(lay, seed, layers[k], c.optim.perturbation);
      std::vector<double> xp(N), xm(N);
      for (std::size_t e = 0; e < N; ++e) {
        // The engine perturbs in float: theta + eps z rounded once.
        const float t = static_cast<float>(x[e]), ze = static_cast<float>(z[e]);
        xp[e] = t + static_cast<float>(eps) * ze;
        xm[e] = t - static_cast<float>(eps) * ze;
      }
      const double lp = reference_loss(c, lay, xp, batches[k]);
      const double lm = reference_loss(c, lay, xm, batches[k]);
      s.loss_plus.push_back(lp);
      s.loss_minus.push_back(lm);
      loss += 0.5 * (lp + lm) / n;
      const double g = (lp - lm) / (2 * eps);
      for (std::size_t e = 0; e < N; ++e) f[e] -= lr * g / n * z[e];
    }
    std::vector<double> dx(N);
    for (std::size_t e = 0; e < N; ++e) dx[e] = a.beta * f[e];
    bool restart = false;
    const int mk = std::min<int>(a.m, static_cast<int>(F.size()));
    if (a.m > 0 && mk > 0) {
      std::vector<std::vector<double>> dF(mk, std::vector<double>(N));
      for (int j = 0; j < mk; ++j) {
        const auto& older = F[F.size() - mk + j];
        const auto& newer = j + 1 < mk ? F[F.size() - mk + j + 1] : f;
        for (std::size_t e = 0; e < N; ++e) dF[j][e] = newer[e] - older[e];
      }
      std::vector<double> G(mk * mk), r(mk);
      double frob = 0;
      for (int i = 0; i < mk; ++i) {
        r[i] = dot(dF[i], f);
        for (int j = 0; j < mk; ++j)
          G[i * mk + j] = dot(dF[i], dF[j]), frob += G[i * mk + j] * G[i * mk + j];
      }
      frob = std::sqrt(frob);
      for (int i = 0; i < mk; ++i) G[i * mk + i] += a.lambda * frob;
      std::vector<double> gamma;
      const bool ok = frob > 0 && cholesky_solve(G, r, mk, gamma);
      if (!ok || std::sqrt(dot(gamma, gamma)) > a.max_gamma_norm) {
        restart = true;
        ++out.safeguard;
      } else {
        ++out.mixed;
        s.gamma = gamma;
        for (int j = 0; j < mk; ++j)
          for (std::size_t e = 0; e < N; ++e)
            dx[e] -= gamma[j] * (X[X.size() - mk + j][e] + a.beta * dF[j][e]);
      }
    }
    for (std::size_t e = 0; e < N; ++e) x[e] += dx[e];
    out.steps.push_back(s);
    if (a.m == 0) continue;
    F.push_back(f);
    X.push_back(dx);
    if (static_cast<int>(F.size()) > a.m) F.pop_front(), X.pop_front();
    losses.push_back(loss);
    if (static_cast<int>(losses.size()) >= 2 * w) {
      double recent = 0, before = 0;
      for (int i = 0; i < w; ++i)
        recent += losses[losses.size() - 1 - i], before += losses[losses.size() - 1 - w - i];
      restart = restart || recent > before;
      losses.pop_front();
    }
    restart = restart || k - anchor + 1 >= 2 * w;
    if (restart) F.clear(), X.clear(), losses.clear(), ++out.restarts;
  }
  out.x = std::move(x);
  return out;
}

void check_case(const Case& k) {
  SCOPED_TRACE(k.name);
  const Config c = case_config(k);
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  ModelSession session(c, mesh);
  const Layout lay(session.model().params());
  const std::vector<double> x0 = flatten(session.model().params(), lay);
  std::vector<Batch> batches;
  for (int t = 0; t < c.run.steps; ++t) batches.push_back(session.batches().train_batch(t));

  ZoOptimizer opt = make_zo_optimizer(c, session);
  std::vector<StepRecord> eng;
  std::vector<std::vector<double>> eng_gamma;
  std::vector<std::vector<int>> layers;
  for (int t = 0; t < c.run.steps; ++t) {
    eng.push_back(zo_train_step(opt, session, t));
    ASSERT_FALSE(eng.back().skipped);
    eng_gamma.push_back(opt.anderson()->gamma());
    layers.push_back(eng.back().active_layers);
  }
  opt.flush();
  const std::vector<double> x_eng = flatten(session.model().params(), lay);

  const DenseRun dense = dense_anderson(c, lay, x0, batches, layers);
  Config plain_cfg = c;
  plain_cfg.optim.anderson.m = 0;
  plain_cfg.optim.anderson.beta = 1;
  const DenseRun plain = dense_anderson(plain_cfg, lay, x0, batches, layers);

  // l+- : fp32 forward against the double reference (test_transformer: 1e-5 relative), on
  // weights that differ by the accumulated rounding of the update (far below that).
  double loss_err = 0;
  for (int t = 0; t < c.run.steps; ++t)
    for (int p = 0; p < k.n_perturb; ++p) {
      const double lp = dense.steps[t].loss_plus[p], lm = dense.steps[t].loss_minus[p];
      EXPECT_NEAR(eng[t].loss_plus[p], lp, 1e-5 * lp) << "step " << t;
      EXPECT_NEAR(eng[t].loss_minus[p], lm, 1e-5 * lm) << "step " << t;
      loss_err = std::max({loss_err, std::fabs(eng[t].loss_plus[p] - lp) / lp,
                           std::fabs(eng[t].loss_minus[p] - lm) / lm});
    }
  // The same mixing decisions; gammas agree to what g's rounding (~1e-6 relative) allows.
  double gamma_err = 0;
  for (int t = 0; t < c.run.steps; ++t) {
    const auto& gd = dense.steps[t].gamma;
    ASSERT_EQ(eng_gamma[t].size(), gd.size())
        << "step " << t << ": engine " << (eng_gamma[t].empty() ? "took a plain step" : "mixed")
        << ", the dense Anderson " << (gd.empty() ? "took a plain step" : "mixed");
    for (std::size_t j = 0; j < gd.size(); ++j) {
      EXPECT_NEAR(eng_gamma[t][j], gd[j], 1e-4 * (1 + std::fabs(gd[j]))) << "step " << t;
      gamma_err = std::max(gamma_err, std::fabs(eng_gamma[t][j] - gd[j]));
    }
  }
  // Final weights: the difference must be tiny against what Anderson itself changes (the
  // distance to plain ZO-SGD from the same start on the same batches) and against the
  // distance travelled; a dropped or wrong extrapolation is of the size of the former.
  double err = 0, effect = 0, travelled = 0;
  for (std::size_t e = 0; e < lay.size(); ++e) {
    err = std::max(err, std::fabs(x_eng[e] - dense.x[e]));
    effect = std::max(effect, std::fabs(dense.x[e] - plain.x[e]));
    travelled = std::max(travelled, std::fabs(dense.x[e] - x0[e]));
  }
  const AndersonStats& st = opt.anderson()->stats();
  std::printf(
      "%-28s %zu params %d steps: dense mixed %d, safeguard %d, restarts %d | engine %s | "
      "max rel l+- err %.1e, max gamma err %.1e, max |w_engine - w_dense| %.2e, "
      "Anderson's effect %.2e, travelled %.2e\n",
      k.name.c_str(), lay.size(), c.run.steps, dense.mixed, dense.safeguard, dense.restarts,
      describe(st).c_str(), loss_err, gamma_err, err, effect, travelled);
  EXPECT_EQ(st.mixed, dense.mixed);
  EXPECT_EQ(st.singular + st.gamma_norm, dense.safeguard);
  EXPECT_EQ(st.restarts, dense.restarts);
  EXPECT_GT(dense.mixed, k.safeguard_restarts ? 4 : c.run.steps / 2);  // it really extrapolates
  if (k.safeguard_restarts)
    EXPECT_GT(dense.safeguard, 0);
  else
    EXPECT_EQ(dense.safeguard, 0);
  EXPECT_GT(effect, 0.05 * travelled);  // Anderson changes the trajectory measurably
  EXPECT_LE(err, 1e-3 * effect);
  EXPECT_LE(err, 1e-4 * travelled);
}

TEST(AndersonDense, MezoWindowsWithoutSafeguardRestarts) {
  for (int m : {1, 2, 5})
    check_case({"mezo m=" + std::to_string(m), "mezo", m, 1, 1.0, 1e3, false});
}

TEST(AndersonDense, MezoWithGammaNormRestarts) {
  // ||gamma|| of ZO residual windows is O(1); a bound below that restarts often.
  for (int m : {1, 2, 5})
    check_case({"mezo m=" + std::to_string(m) + " max|gamma|=0.9", "mezo", m, 1, 1.0, 0.9, true});
}

// The Gram of +-1 directions (z.z = the entry count) through the mixer, against the dense
// reference drawing the same signs.
TEST(AndersonDense, RademacherDirections) {
  check_case({"mezo m=2 rademacher", "mezo", 2, 1, 1.0, 1e3, false, Perturbation::Rademacher});
}

TEST(AndersonDense, TwoPerturbationsBetaAndLezo) {
  check_case({"mezo m=2 n=2 beta=0.7", "mezo", 2, 2, 0.7, 1e3, false});
  check_case({"lezo m=2", "lezo", 2, 1, 1.0, 1e3, false});
}

}  // namespace
}  // namespace zoptimus

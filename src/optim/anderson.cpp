// Anderson extrapolation over compact direction histories (see anderson.hpp).
#include "optim/anderson.hpp"

#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.hpp"
#include "optim/direction_gram.hpp"

namespace zoptimus {

namespace {

// Solves A x = b (n x n, row-major) by Gaussian elimination with partial pivoting; returns
// false when A is singular to working precision.
bool solve(std::vector<double> A, std::vector<double> b, int n, std::vector<double>& x) {
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(A[r * n + c]) > std::fabs(A[piv * n + c])) piv = r;
    if (!(std::fabs(A[piv * n + c]) > 0)) return false;
    for (int k = 0; k < n; ++k) std::swap(A[c * n + k], A[piv * n + k]);
    std::swap(b[c], b[piv]);
    for (int r = c + 1; r < n; ++r) {
      const double f = A[r * n + c] / A[c * n + c];
      for (int k = c; k < n; ++k) A[r * n + k] -= f * A[c * n + k];
      b[r] -= f * b[c];
    }
  }
  x.assign(n, 0.0);
  for (int r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (int k = r + 1; k < n; ++k) s -= A[r * n + k] * x[k];
    x[r] = s / A[r * n + r];
  }
  for (double v : x)
    if (!std::isfinite(v)) return false;
  return true;
}

void pad(std::vector<double>& v, std::size_t n) {
  v.resize(n, 0.0);
}

}  // namespace

AndersonMixer::AndersonMixer(const AndersonConfig& config, int n_perturb, Perturbation dist,
                             const ParameterStore& params, Collectives& comm)
    : cfg_(config), n_perturb_(n_perturb), dist_(dist), params_(params), comm_(comm) {
  for (const auto& t : params.tensors())
    entries_per_tensor_.push_back(static_cast<double>(t.global_size()));
}

void AndersonMixer::restart() {
  dirs_.clear();
  f_.clear();
  f_steps_.clear();
  dx_.clear();
  losses_.clear();
  ++restarts_;
  ++stats_.restarts;
}

void AndersonMixer::masks_changed() {
  if (dirs_.empty()) return;
  restart();
  ++stats_.restart_masks;
}

void AndersonMixer::distribution_changed() {
  if (!dirs_.empty()) restart();
}

std::vector<double> AndersonMixer::gram(const std::vector<int>& dirs,
                                        const std::vector<float>& thresholds) {
  const int K = static_cast<int>(dirs.size());
  if (cfg_.gram == GramMode::Diag) {
    // z_a . z_b ~ (entries z_a lives on) delta_ab: independent Gaussian directions.
    std::vector<double> M(static_cast<std::size_t>(K) * K, 0.0);
    for (int a = 0; a < K; ++a) {
      double n = 0;
      for (std::size_t t = 0; t < entries_per_tensor_.size(); ++t)
        if (dirs_[dirs[a]].active.empty() || dirs_[dirs[a]].active[t]) n += entries_per_tensor_[t];
      M[a * K + a] = n;
    }
    return M;
  }
  std::vector<std::uint64_t> seeds;
  std::vector<std::vector<char>> active;
  bool any_subset = false;
  for (int d : dirs) any_subset = any_subset || !dirs_[d].active.empty();
  for (int d : dirs) {
    seeds.push_back(dirs_[d].seed);
    if (any_subset)
      active.push_back(dirs_[d].active.empty() ? std::vector<char>(params_.size(), 1)
                                               : dirs_[d].active);
  }
  return direction_gram(params_, dist_, seeds, active, thresholds, comm_);
}

ZoUpdate AndersonMixer::next(std::int64_t step, const std::vector<std::uint64_t>& seeds,
                             const std::vector<double>& g, double lr, double loss,
                             const std::vector<char>& active,
                             const std::vector<float>& thresholds) {
  const int n = static_cast<int>(seeds.size());
  logged_.clear();
  gamma_.clear();
  ZoUpdate u;
  if (cfg_.m == 0) {
    // Plain ZO-SGD with step beta * lr: the very update MeZO applies when beta = 1.
    u.seeds = seeds;
    for (double gp : g) u.coeffs.push_back(gp / n);
    u.active = active;
    u.lr = lr * cfg_.beta;
    return u;
  }
  if (dirs_.empty()) anchor_step_ = step;
  for (int p = 0; p < n; ++p) dirs_.push_back({step, seeds[p], active});
  const std::size_t D = dirs_.size();
  for (auto& v : f_) pad(v, D);
  for (auto& v : dx_) pad(v, D);
  std::vector<double> f(D, 0.0);
  for (int p = 0; p < n; ++p) f[D - n + p] = -lr * g[p] / n;

  std::vector<double> dx(D);
  const int mk = static_cast<int>(std::min<std::size_t>(cfg_.m, f_.size()));
  bool restart_now = false;
  for (std::size_t i = 0; i < D; ++i) dx[i] = cfg_.beta * f[i];
  if (mk > 0) {
    // dF_j = f_{j+1} - f_j over the last mk + 1 residuals (f_ holds the previous ones).
    std::vector<std::vector<double>> dF(mk), dX(mk);
    for (int j = 0; j < mk; ++j) {
      const auto& older = f_[f_.size() - mk + j];
      const auto& newer = j + 1 < mk ? f_[f_.size() - mk + j + 1] : f;
      dF[j].resize(D);
      for (std::size_t i = 0; i < D; ++i) dF[j][i] = newer[i] - older[i];
      dX[j] = dx_[dx_.size() - mk + j];
    }
    // Only the directions of the residuals in use (the last mk and this step's) appear in dF
    // and f; skipped steps left no residual, so go by the residuals' own steps.
    const std::int64_t oldest = f_steps_[f_steps_.size() - mk];
    std::vector<int> window;
    for (std::size_t i = 0; i < D; ++i)
      if (dirs_[i].step >= oldest) window.push_back(static_cast<int>(i));
    const int K = static_cast<int>(window.size());
    const std::vector<double> M = gram(window, thresholds);
    // G = C^T M C and rhs = C^T M f with C the window rows of dF.
    std::vector<double> Mf(K, 0.0), G(static_cast<std::size_t>(mk) * mk, 0.0), rhs(mk, 0.0);
    std::vector<std::vector<double>> MC(mk, std::vector<double>(K, 0.0));
    for (int a = 0; a < K; ++a)
      for (int b = 0; b < K; ++b) {
        Mf[a] += M[a * K + b] * f[window[b]];
        for (int j = 0; j < mk; ++j) MC[j][a] += M[a * K + b] * dF[j][window[b]];
      }
    double norm = 0;
    for (int j = 0; j < mk; ++j) {
      for (int a = 0; a < K; ++a) rhs[j] += dF[j][window[a]] * Mf[a];
      for (int l = 0; l < mk; ++l) {
        double s = 0;
        for (int a = 0; a < K; ++a) s += dF[j][window[a]] * MC[l][a];
        G[j * mk + l] = s;
        norm += s * s;
      }
    }
    norm = std::sqrt(norm);
    for (int j = 0; j < mk; ++j) G[j * mk + j] += cfg_.lambda * norm;
    std::vector<double> gamma;
    const bool ok = norm > 0 && solve(G, rhs, mk, gamma);
    double gnorm = 0;
    for (double v : gamma) gnorm += v * v;
    if (!ok || std::sqrt(gnorm) > cfg_.max_gamma_norm) {
      restart_now = true;  // ill-conditioned: take the plain step, forget the history
      ++(ok ? stats_.gamma_norm : stats_.singular);
      ++(ok ? stats_.restart_gamma_norm : stats_.restart_singular);
    } else {
      ++stats_.mixed;
      gamma_ = gamma;
      for (int j = 0; j < mk; ++j)
        for (std::size_t i = 0; i < D; ++i) dx[i] -= gamma[j] * (dX[j][i] + cfg_.beta * dF[j][i]);
    }
  } else {
    ++stats_.no_history;
  }

  // The update: theta += sum_d dx_d z_d, i.e. coefficients -dx with lr = 1.
  u.lr = 1.0;
  bool any_subset = false;
  for (const auto& d : dirs_) any_subset = any_subset || !d.active.empty();
  logged_ = {static_cast<double>(anchor_step_), static_cast<double>(D)};
  for (std::size_t i = 0; i < D; ++i) {
    u.seeds.push_back(dirs_[i].seed);
    u.coeffs.push_back(-dx[i]);
    logged_.push_back(dx[i]);
    if (any_subset)
      u.seed_active.push_back(dirs_[i].active.empty() ? std::vector<char>(params_.size(), 1)
                                                      : dirs_[i].active);
  }

  // Remember this step, then apply the restart rules for the next one.
  f_.push_back(f);
  f_steps_.push_back(step);
  dx_.push_back(dx);
  while (static_cast<int>(f_.size()) > cfg_.m) f_.pop_front(), f_steps_.pop_front();
  while (static_cast<int>(dx_.size()) > cfg_.m) dx_.pop_front();
  losses_.push_back(loss);
  const int w = cfg_.m + 1;
  if (static_cast<int>(losses_.size()) >= 2 * w) {
    double recent = 0, before = 0;
    for (int i = 0; i < w; ++i) {
      recent += losses_[losses_.size() - 1 - i];
      before += losses_[losses_.size() - 1 - w - i];
    }
    if (recent > before) {  // the running mean rose over the window
      restart_now = true;
      ++stats_.restart_loss_rise;
    }
    losses_.pop_front();
  }
  if (step - anchor_step_ + 1 >= 2 * w) {  // bound the span of directions
    restart_now = true;
    ++stats_.restart_period;
  }
  if (restart_now) restart();
  return u;
}

void AndersonMixer::save(std::map<std::string, std::vector<double>>& reals,
                         std::map<std::string, std::vector<std::int64_t>>& integers) const {
  const std::size_t D = dirs_.size();
  std::vector<std::int64_t> meta = {anchor_step_, restarts_, static_cast<std::int64_t>(D),
                                    static_cast<std::int64_t>(f_.size()),
                                    static_cast<std::int64_t>(dx_.size())};
  std::vector<std::int64_t> dirs, active;
  for (const Direction& d : dirs_) {
    std::int64_t seed;
    std::memcpy(&seed, &d.seed, sizeof seed);  // uint64 stored bit for bit in an int64
    dirs.insert(dirs.end(), {d.step, seed, d.active.empty() ? 0 : 1});
    for (char a : d.active) active.push_back(a);
  }
  std::vector<double> f, dx;
  for (const auto& v : f_) f.insert(f.end(), v.begin(), v.end());
  for (const auto& v : dx_) dx.insert(dx.end(), v.begin(), v.end());
  integers["anderson_meta"] = meta;
  integers["anderson_dirs"] = dirs;
  integers["anderson_active"] = active;
  integers["anderson_f_steps"] = std::vector<std::int64_t>(f_steps_.begin(), f_steps_.end());
  reals["anderson_f"] = f;
  reals["anderson_dx"] = dx;
  reals["anderson_losses"] = std::vector<double>(losses_.begin(), losses_.end());
}

void AndersonMixer::load(const std::map<std::string, std::vector<double>>& reals,
                         const std::map<std::string, std::vector<std::int64_t>>& integers) {
  auto meta_it = integers.find("anderson_meta");
  if (meta_it == integers.end()) return;  // saved without Anderson: start with no history
  auto get_i = [&](const char* k) -> const std::vector<std::int64_t>& {
    auto it = integers.find(k);
    if (it == integers.end()) fail("checkpoint: Anderson state lacks /optim/{}", k);
    return it->second;
  };
  auto get_r = [&](const char* k) -> const std::vector<double>& {
    auto it = reals.find(k);
    if (it == reals.end()) fail("checkpoint: Anderson state lacks /optim/{}", k);
    return it->second;
  };
  const auto& meta = meta_it->second;
  const auto& dirs = get_i("anderson_dirs");
  const auto& active = get_i("anderson_active");
  const auto& f = get_r("anderson_f");
  const auto& dx = get_r("anderson_dx");
  const auto& losses = get_r("anderson_losses");
  const auto& f_steps = get_i("anderson_f_steps");
  if (meta.size() != 5)
    fail("checkpoint: /optim/anderson_meta has {} entries, expected 5", meta.size());
  const std::size_t D = meta[2], nf = meta[3], ndx = meta[4], T = params_.size();
  if (dirs.size() != 3 * D || f.size() != nf * D || dx.size() != ndx * D || f_steps.size() != nf)
    fail("checkpoint: Anderson state sizes disagree ({} directions, {} and {} coefficients)", D,
         f.size(), dx.size());
  anchor_step_ = meta[0];
  restarts_ = static_cast<int>(meta[1]);
  dirs_.clear();
  std::size_t a = 0;
  for (std::size_t i = 0; i < D; ++i) {
    Direction d;
    d.step = dirs[3 * i];
    std::memcpy(&d.seed, &dirs[3 * i + 1], sizeof d.seed);
    if (dirs[3 * i + 2]) {
      if (a + T > active.size()) fail("checkpoint: /optim/anderson_active is too short");
      d.active.assign(active.begin() + a, active.begin() + a + T);
      a += T;
    }
    dirs_.push_back(std::move(d));
  }
  f_.clear();
  f_steps_.clear();
  dx_.clear();
  for (std::size_t i = 0; i < nf; ++i) f_.emplace_back(f.begin() + i * D, f.begin() + (i + 1) * D);
  f_steps_.assign(f_steps.begin(), f_steps.end());
  for (std::size_t i = 0; i < ndx; ++i)
    dx_.emplace_back(dx.begin() + i * D, dx.begin() + (i + 1) * D);
  losses_.assign(losses.begin(), losses.end());
}

}  // namespace zoptimus

// ZO on one rank: every method learns, E[g z] is the gradient, Sparse/LeZO touch exactly what
// they should, and replay rebuilds the weights bit for bit.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>

#include "io/checkpoint.hpp"
#include "kernels/perturbation.hpp"
#include "optim/anderson.hpp"
#include "optim/direction_gram.hpp"
#include "optim/replay.hpp"
#include "optim/sparse_threshold.hpp"
#include "support/zo_test_support.hpp"

namespace zoptimus {
namespace {

using namespace zoptimus::testing;

// 20 steps give the same l+, l- sequences on every mesh as on one rank. Meshes sum in
// different orders, so l+- differ by float rounding (~1e-7); g = (l+ - l-)/(2 eps) amplifies
// that by 1/(2 eps), and Sparse-MeZO's mask |theta| <= h is discontinuous, so an entry at the
// threshold can flip between meshes. eps = 1e-2 and lr = 1e-3 keep the drift of theta far
// below the spacing of entries around the threshold.
// Each method lowers the training loss on the learnable synthetic stream.
TEST(Zo, EveryMethodLearns) {
  for (const std::string variant : {"mezo", "sparse_mezo", "lezo", "mezo+rademacher"}) {
    const std::string method = variant.substr(0, variant.find('+'));
    Config c = base_config(method);
    if (variant != method) c.optim.perturbation = Perturbation::Rademacher;
    c.run.steps = 100;
    const std::vector<StepRecord> r = run_steps(c, MPI_COMM_SELF, MeshShape{});
    double first = 0, last = 0;
    for (int t = 0; t < 10; ++t)
      first += r[t].loss() / 10, last += r[c.run.steps - 1 - t].loss() / 10;
    std::printf("%s: mean training loss of the first 10 steps %.4f, of the last 10 %.4f\n",
                variant.c_str(), first, last);
    EXPECT_LT(last, first - 0.03) << variant;
  }
}

// E[g z] is the gradient: the average of g z over many directions has cosine > 0.9 with the
// gradient from central finite differences along every coordinate.
TEST(Zo, EstimatorConvergesToTheGradient) {
  Config c = base_config("mezo");
  c.model.vocab = 16;
  c.model.hidden = 8;
  c.model.heads = 2;
  c.model.layers = 1;
  c.model.ffn = 16;
  c.model.max_positions = 8;
  c.data.batch = 2;
  c.data.seq_len = 6;
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  ModelSession session(c, mesh);
  ParameterStore& p = session.model().params();
  const Batch batch = session.batches().train_batch(0);
  StoredWeights plain(p);

  // Finite differences, coordinate by coordinate (double accumulation of float losses).
  std::vector<double> fd;
  const float h = 1e-2f;
  for (const auto& t : p.tensors()) {
    auto host = Kokkos::create_mirror_view_and_copy(HostSpace(), p.data(t.id));
    for (int i = 0; i < t.valid_rows(); ++i)
      for (int j = 0; j < t.valid_cols(); ++j) {
        const float orig = host(i, j);
        host(i, j) = orig + h;
        Kokkos::deep_copy(p.data(t.id), host);
        const double lp = session.loss(batch, plain).mean();
        host(i, j) = orig - h;
        Kokkos::deep_copy(p.data(t.id), host);
        const double lm = session.loss(batch, plain).mean();
        host(i, j) = orig;
        Kokkos::deep_copy(p.data(t.id), host);
        fd.push_back((lp - lm) / (2.0 * h));
      }
  }
  const int d = static_cast<int>(fd.size());
  const int samples = 8000;  // expected cosine ~ 1/sqrt(1 + (d+1)/N) ~ 0.95 for d ~ 830
  ZoWeights zo(p, c.optim.eps, 0.0, 0.0, {}, Perturbation::Gaussian);
  std::vector<double> est(d, 0.0);
  for (int s = 0; s < samples; ++s) {
    const std::uint64_t seed = 1000 + s;
    zo.set_perturbation(seed, {});
    const auto l = session.losses({&batch, &batch}, zo);
    const double g = (l[0].mean() - l[1].mean()) / (2.0 * c.optim.eps);
    int k = 0;
    for (const auto& t : p.tensors())
      for (std::int64_t i = 0; i < t.valid_rows(); ++i)
        for (std::int64_t j = 0; j < t.valid_cols(); ++j, ++k)
          est[k] += g * philox_normal(seed, t.id, i * t.cols + j) / samples;
  }
  double dot = 0, n1 = 0, n2 = 0;
  for (int k = 0; k < d; ++k) dot += fd[k] * est[k], n1 += fd[k] * fd[k], n2 += est[k] * est[k];
  const double cosine = dot / std::sqrt(n1 * n2);
  std::printf("estimator: d = %d parameters, %d directions, cosine(mean g z, FD gradient) = %.4f\n",
              d, samples, cosine);
  EXPECT_GT(cosine, 0.9);
}

// Every tensor's local block, copied to the host.
std::vector<std::vector<float>> snapshot(const ParameterStore& p) {
  std::vector<std::vector<float>> out;
  for (const auto& t : p.tensors()) {
    auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), p.data(t.id));
    out.emplace_back(h.data(), h.data() + h.size());
  }
  return out;
}

// optim.perturbation = "rademacher": one step moves every entry by exactly lr g (z = +-1),
// with the sign of the independently generated direction (test_philox_sign ties it to
// Random123).
TEST(Zo, RademacherStepMovesEveryEntryByLrTimesG) {
  Config c = base_config("mezo");
  c.optim.weight_decay = 0;
  c.optim.perturbation = Perturbation::Rademacher;
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  ModelSession session(c, mesh);
  ZoOptimizer opt = make_zo_optimizer(c, session);
  const ParameterStore& p = session.model().params();
  const auto before = snapshot(p);
  const StepRecord r = zo_train_step(opt, session, 0);
  opt.flush();
  const double step = r.lr * r.projected_grad[0];
  ASSERT_GT(std::fabs(step), 1e-6);  // a step that moves nothing would pass vacuously
  std::int64_t entries = 0, wrong = 0;
  for (const auto& t : p.tensors()) {
    auto after = Kokkos::create_mirror_view_and_copy(HostSpace(), p.data(t.id));
    for (std::int64_t i = 0; i < t.valid_rows(); ++i)
      for (std::int64_t j = 0; j < t.valid_cols(); ++j, ++entries) {
        const float z = direction(Perturbation::Rademacher, r.seeds[0], t.id, i * t.cols + j);
        const double expected = before[t.id][i * t.local_cols() + j] - step * z;
        wrong += std::fabs(after(i, j) - expected) > 1e-6;  // float rounding of ~0.3 values
      }
  }
  std::printf("rademacher step: lr g = %.3e, %lld entries, %lld not moved by -lr g z\n", step,
              static_cast<long long>(entries), static_cast<long long>(wrong));
  EXPECT_EQ(wrong, 0);
}

// The Gram of Rademacher directions: z.z counts the entries exactly, z_a.z_b of two seeds is a
// sum of n fair signs (|.| < 6 sqrt(n) fails a correct generator with probability ~2e-9).
TEST(Zo, RademacherGramCountsTheEntries) {
  Config c = base_config("mezo");
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  ModelSession session(c, mesh);
  const ParameterStore& p = session.model().params();
  double n = 0;
  for (const auto& t : p.tensors()) n += static_cast<double>(t.valid_rows()) * t.valid_cols();
  const std::vector<double> g =
      direction_gram(p, Perturbation::Rademacher, {11, 12}, {}, {}, session.comm());
  std::printf("rademacher Gram: %.0f entries, G = [%.0f %.0f; %.0f %.0f]\n", n, g[0], g[1], g[2],
              g[3]);
  EXPECT_EQ(g[0], n);
  EXPECT_EQ(g[3], n);
  EXPECT_EQ(g[1], g[2]);
  EXPECT_LT(std::fabs(g[1]), 6 * std::sqrt(n));
  EXPECT_NE(g[1], 0.0);  // not the same direction twice
}

// One Sparse-MeZO step changes exactly the entries inside the mask; one LeZO step changes
// exactly the chosen layers (plus embeddings and final norm) and does no RNG work elsewhere.
TEST(Zo, SparseAndLezoTouchExactlyWhatTheyShould) {
  {
    Config c = base_config("sparse_mezo");
    c.optim.weight_decay = 0;
    Mesh mesh(MPI_COMM_SELF, MeshShape{});
    ModelSession session(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, session);
    const auto before = snapshot(session.model().params());
    zo_train_step(opt, session, 0);
    opt.flush();
    const auto after = snapshot(session.model().params());
    const auto& h = opt.weights().thresholds();
    long long changed = 0, masked = 0;
    for (const auto& t : session.model().params().tensors())
      for (std::size_t e = 0; e < before[t.id].size(); ++e) {
        const bool in_mask = std::fabs(before[t.id][e]) <= h[t.id];
        const bool moved = before[t.id][e] != after[t.id][e];
        EXPECT_FALSE(moved && !in_mask) << t.name << " entry " << e << " moved outside the mask";
        changed += moved;
        masked += in_mask && (e / t.local_cols() < static_cast<std::size_t>(t.valid_rows()));
      }
    std::printf("sparse_mezo: %lld entries moved, %lld in the mask\n", changed, masked);
    EXPECT_EQ(changed, masked);
  }
  {
    Config c = base_config("lezo");
    c.optim.weight_decay = 0;
    Mesh mesh(MPI_COMM_SELF, MeshShape{});
    ModelSession session(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, session);
    const auto before = snapshot(session.model().params());
    const StepRecord r = zo_train_step(opt, session, 0);
    const std::int64_t rng = opt.weights().rng_elements();
    opt.flush();
    const auto after = snapshot(session.model().params());
    ASSERT_EQ(r.active_layers.size(), 1u);
    const std::set<int> on(r.active_layers.begin(), r.active_layers.end());
    std::int64_t expected_rng = 0;
    for (const auto& t : session.model().params().tensors()) {
      const bool active = t.layer < 0 || on.count(t.layer);
      // The tied embedding is used twice per pass (lookup and head) but generated once.
      if (active) expected_rng += t.valid_rows() * t.valid_cols();
      const bool moved = before[t.id] != after[t.id];
      const bool has_weights = t.init == InitKind::Normal;  // zero biases may stay zero-ish
      if (!active) EXPECT_FALSE(moved) << t.name << " (inactive) moved";
      if (active && has_weights) EXPECT_TRUE(moved) << t.name << " (active) did not move";
    }
    EXPECT_EQ(rng, expected_rng);
  }
}

// Replaying the logged steps from the initial weights rebuilds the trained weights bit for bit.
TEST(Zo, ReplayRebuildsTheWeightsBitForBit) {
  for (const std::string variant : {"mezo", "sparse_mezo", "lezo", "mezo+anderson", "lezo+anderson",
                                    "sparse_mezo+rademacher", "lezo+anderson+rademacher"}) {
    const bool anderson = variant.find("+anderson") != std::string::npos;
    Config c = base_config(variant.substr(0, variant.find('+')));
    if (variant.find("+rademacher") != std::string::npos)
      c.optim.perturbation = Perturbation::Rademacher;
    c.optim.n_perturb = 2;
    c.optim.momentum = variant == "mezo" ? 0.9 : 0.0;
    c.run.steps = 10;
    if (variant.find("+refresh") != std::string::npos) c.optim.sparse_refresh = 3;
    if (anderson) {
      c.optim.weight_decay = 0;
      c.optim.anderson.m = 2;
      c.optim.anderson.beta = 0.8;
    }
    Mesh mesh(MPI_COMM_SELF, MeshShape{});
    ModelSession trained(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, trained);
    std::vector<StepRecord> log;
    for (int t = 0; t < c.run.steps; ++t) {
      const StepRecord r = zo_train_step(opt, trained, t);
      log.push_back(r);
    }
    opt.flush();
    ModelSession fresh(c, mesh);  // initial weights from the same seed
    replay_trajectory(c, mesh, fresh.model().params(), log);
    EXPECT_EQ(snapshot(fresh.model().params()), snapshot(trained.model().params())) << variant;
  }
}

// A run with Anderson restarted from a checkpoint (history included) continues bit for bit.
TEST(Zo, AndersonRestartContinuesBitForBit) {
  Config c = base_config("lezo");
  c.optim.weight_decay = 0;
  c.optim.anderson.m = 2;
  c.run.steps = 8;
  const int half = 5;  // mid-window: the history is not empty when saved
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  std::vector<double> full, resumed;
  {
    ModelSession s(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, s);
    for (int t = 0; t < c.run.steps; ++t) full.push_back(zo_train_step(opt, s, t).loss_plus[0]);
  }
  const std::string path = ::testing::TempDir() + "zoptimus_anderson_restart.h5";
  std::remove(path.c_str());
  {
    ModelSession s(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, s);
    for (int t = 0; t < half; ++t) resumed.push_back(zo_train_step(opt, s, t).loss_plus[0]);
    opt.flush();
    write_checkpoint(path, s.model().params(), mesh, c, opt.state(half));
  }
  {
    ModelSession s(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, s);
    const CheckpointState st = read_checkpoint(path, s.model().params(), mesh, c);
    opt.restore(st);
    for (int t = static_cast<int>(st.step); t < c.run.steps; ++t)
      resumed.push_back(zo_train_step(opt, s, t).loss_plus[0]);
  }
  EXPECT_EQ(full, resumed);
}

// A restart that switches optim.perturbation restarts Anderson's history (its seeds would
// regenerate other directions); one that keeps it mixes on from the saved window.
TEST(Zo, AndersonHistoryRestartsWhenTheDistributionChanges) {
  Config c = base_config("mezo");
  c.optim.weight_decay = 0;
  c.optim.anderson.m = 3;
  const int half = 3;  // mid-window: the history is not empty when saved
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  const std::string path = ::testing::TempDir() + "zoptimus_anderson_dist.h5";
  std::remove(path.c_str());
  {
    ModelSession s(c, mesh);
    ZoOptimizer opt = make_zo_optimizer(c, s);
    for (int t = 0; t < half; ++t) zo_train_step(opt, s, t);
    ASSERT_FALSE(opt.anderson()->gamma().empty()) << "the window must be mixing when saved";
    opt.flush();
    write_checkpoint(path, s.model().params(), mesh, c, opt.state(half));
  }
  for (const Perturbation dist : {Perturbation::Gaussian, Perturbation::Rademacher}) {
    Config r = c;
    r.optim.perturbation = dist;
    ModelSession s(r, mesh);
    ZoOptimizer opt = make_zo_optimizer(r, s);
    opt.restore(read_checkpoint(path, s.model().params(), mesh, r));
    zo_train_step(opt, s, half);
    const bool mixed = !opt.anderson()->gamma().empty();  // gamma: set only by a mixed step
    std::printf("restart as %s: first step %s\n", std::string(choice_name(dist)).c_str(),
                mixed ? "mixes with the saved window" : "is a plain step (history restarted)");
    EXPECT_EQ(mixed, dist == Perturbation::Gaussian);
  }
}

// Anderson with m = 0 is MeZO, bit for bit.
TEST(Zo, AndersonWithEmptyWindowIsMezo) {
  Config c = base_config("mezo");
  c.optim.weight_decay = 0;
  c.run.steps = 8;
  Config a = c;
  a.optim.anderson.m = 0;
  a.optim.anderson.beta = 1.0;
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  ModelSession plain(c, mesh), mixed(a, mesh);
  ZoOptimizer p = make_zo_optimizer(c, plain), m = make_zo_optimizer(a, mixed);
  AndersonMixer mixer(a.optim.anderson, a.optim.n_perturb, a.optim.perturbation,
                      mixed.model().params(), mixed.comm());
  for (int t = 0; t < c.run.steps; ++t) {
    const StepRecord rp = zo_train_step(p, plain, t), rm = zo_train_step(m, mixed, t);
    EXPECT_EQ(rp.loss_plus, rm.loss_plus);
    EXPECT_EQ(rp.loss_minus, rm.loss_minus);
    const ZoUpdate u = mixer.next(t, rp.seeds, rp.projected_grad, rp.lr, rp.loss(), {}, {});
    EXPECT_EQ(u.lr, rp.lr);
    EXPECT_EQ(u.coeffs[0], rp.projected_grad[0] / c.optim.n_perturb);
  }
  p.flush();
  m.flush();
  EXPECT_EQ(snapshot(plain.model().params()), snapshot(mixed.model().params()));
}

// The compact Anderson (coefficients over regenerated directions, exact Gram) equals a plain
// dense implementation of x_{k+1} = x_k + beta f_k - (dX + beta dF) gamma on explicit
// parameter vectors, fed the same g's and the same restart decisions.
TEST(Zo, CompactAndersonMatchesDenseAnderson) {
  Config c = base_config("mezo");
  c.model.vocab = 16, c.model.hidden = 8, c.model.heads = 2, c.model.layers = 1;
  c.model.ffn = 16, c.model.max_positions = 8, c.data.batch = 2, c.data.seq_len = 6;
  c.optim.weight_decay = 0;
  c.optim.n_perturb = 2;
  c.optim.anderson.m = 2;
  c.optim.anderson.beta = 0.7;
  c.optim.anderson.lambda = 1e-6;
  c.run.steps = 10;
  Mesh mesh(MPI_COMM_SELF, MeshShape{});
  ModelSession session(c, mesh);
  const ParameterStore& P = session.model().params();
  auto flat = [&] {
    std::vector<double> x;
    for (const auto& t : P.tensors()) {
      auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), P.data(t.id));
      for (std::int64_t i = 0; i < t.valid_rows(); ++i)
        for (std::int64_t j = 0; j < t.valid_cols(); ++j) x.push_back(h(i, j));
    }
    return x;
  };
  auto direction = [&](std::uint64_t seed) {
    std::vector<double> z;
    for (const auto& t : P.tensors())
      for (std::int64_t i = 0; i < t.valid_rows(); ++i)
        for (std::int64_t j = 0; j < t.valid_cols(); ++j)
          z.push_back(philox_normal(seed, t.id, i * t.cols + j));
    return z;
  };
  std::vector<double> x = flat();
  const std::size_t N = x.size();
  ZoOptimizer opt = make_zo_optimizer(c, session);
  std::vector<std::vector<double>> F, X;  // history of residuals and iterate differences
  int restarts_seen = 0;
  for (int k = 0; k < c.run.steps; ++k) {
    const StepRecord r = zo_train_step(opt, session, k);
    std::vector<double> f(N, 0.0);
    for (int p = 0; p < c.optim.n_perturb; ++p) {
      const auto z = direction(r.seeds[p]);
      for (std::size_t e = 0; e < N; ++e)
        f[e] -= r.lr * r.projected_grad[p] / c.optim.n_perturb * z[e];
    }
    const int mk = std::min<int>(c.optim.anderson.m, static_cast<int>(F.size()));
    std::vector<double> dx(N);
    for (std::size_t e = 0; e < N; ++e) dx[e] = c.optim.anderson.beta * f[e];
    const std::vector<double>& gamma = opt.anderson()->gamma();
    if (mk > 0 && !gamma.empty()) {
      // Dense least squares via normal equations, as in the design.
      std::vector<std::vector<double>> dF(mk, std::vector<double>(N));
      for (int j = 0; j < mk; ++j) {
        const auto& older = F[F.size() - mk + j];
        const auto& newer = j + 1 < mk ? F[F.size() - mk + j + 1] : f;
        for (std::size_t e = 0; e < N; ++e) dF[j][e] = newer[e] - older[e];
      }
      std::vector<double> G(mk * mk), rhs(mk);
      double norm = 0;
      for (int a = 0; a < mk; ++a) {
        for (std::size_t e = 0; e < N; ++e) rhs[a] += dF[a][e] * f[e];
        for (int b = 0; b < mk; ++b) {
          for (std::size_t e = 0; e < N; ++e) G[a * mk + b] += dF[a][e] * dF[b][e];
          norm += G[a * mk + b] * G[a * mk + b];
        }
      }
      for (int a = 0; a < mk; ++a) G[a * mk + a] += c.optim.anderson.lambda * std::sqrt(norm);
      // 2x2 or 1x1 solve by Cramer's rule (independent of the implementation's elimination).
      std::vector<double> g(mk);
      if (mk == 1) g[0] = rhs[0] / G[0];
      if (mk == 2) {
        const double det = G[0] * G[3] - G[1] * G[2];
        g[0] = (rhs[0] * G[3] - G[1] * rhs[1]) / det;
        g[1] = (G[0] * rhs[1] - G[2] * rhs[0]) / det;
      }
      ASSERT_EQ(gamma.size(), g.size());
      for (int j = 0; j < mk; ++j)
        EXPECT_NEAR(gamma[j], g[j], 1e-6 * (1 + std::fabs(g[j]))) << "step " << k;
      for (int j = 0; j < mk; ++j)
        for (std::size_t e = 0; e < N; ++e)
          dx[e] -= g[j] * (X[X.size() - mk + j][e] + c.optim.anderson.beta * dF[j][e]);
    }
    for (std::size_t e = 0; e < N; ++e) x[e] += dx[e];
    F.push_back(f);
    X.push_back(dx);
    while (static_cast<int>(F.size()) > c.optim.anderson.m) F.erase(F.begin());
    while (static_cast<int>(X.size()) > c.optim.anderson.m) X.erase(X.begin());
    if (opt.anderson()->restarts() > restarts_seen) {  // follow the implementation's restarts
      restarts_seen = opt.anderson()->restarts();
      F.clear();
      X.clear();
    }
  }
  opt.flush();
  const std::vector<double> got = flat();
  double err = 0, scale = 0;
  for (std::size_t e = 0; e < N; ++e)
    err = std::max(err, std::fabs(got[e] - x[e])), scale = std::max(scale, std::fabs(x[e]));
  std::printf(
      "anderson: %zu parameters, %d steps, %d restarts, max |compact - dense| = %.2e (max |x| "
      "%.2e)\n",
      N, c.run.steps, restarts_seen, err, scale);
  EXPECT_LE(err, 1e-5 * scale);
}

}  // namespace
}  // namespace zoptimus

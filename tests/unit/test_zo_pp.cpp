// Perturbation parallelism (parallel.pp): n_perturb = 4 split over pp groups follows the
// trajectory of one replica doing all 4 directions (losses per step and final weights):
// bitwise on the same model mesh, within rounding on another; and only the 2n loss scalars
// cross the pp axis (closed form of CommStats' ring convention). Run on 8 ranks (4 suffices
// for every case but pp = 2 x 2x2).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "support/zo_test_support.hpp"

namespace zoptimus {
namespace {

using namespace zoptimus::testing;

constexpr int kSteps = 5;
constexpr int kPerturb = 4;

Config pp_config(const std::string& method = "mezo") {
  Config c = base_config(method);
  c.optim.n_perturb = kPerturb;
  c.optim.eps = 1e-2;
  c.optim.lr = 1e-3;
  c.run.steps = kSteps;
  return c;
}

MeshShape shape_of(MeshMode mode, int dp, int pp, int side) {
  MeshShape s;
  s.mode = mode;
  s.dp = dp;
  s.pp = pp;
  (mode == MeshMode::TwoD ? s.q : s.t) = side;
  return s;
}

// What one run leaves for comparison: the step records, this rank's weight blocks in global
// coordinates, and the comm counters.
struct Outcome {
  std::vector<StepRecord> steps;
  std::vector<std::vector<float>> global;  // per tensor: the block at [row_offset, col_offset]
  std::vector<TensorInfo> tensors;
  CommStats stats;
};

Outcome run(Config c, MPI_Comm comm, const MeshShape& shape) {
  c.data.batch /= shape.dp;  // the same global batch on every mesh; pp shares a replica's batch
  c.parallel.pp = shape.pp;
  Mesh mesh(comm, shape);
  ModelSession session(c, mesh);
  ZoOptimizer opt = make_zo_optimizer(c, session);
  Outcome out;
  for (int t = 0; t < c.run.steps; ++t) out.steps.push_back(zo_train_step(opt, session, t));
  opt.flush();
  const ParameterStore& p = session.model().params();
  out.tensors = p.tensors();
  for (const auto& t : p.tensors()) {
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.data(t.id));
    std::vector<float> block;
    for (std::int64_t i = 0; i < t.valid_rows(); ++i)
      for (std::int64_t j = 0; j < t.valid_cols(); ++j) block.push_back(host(i, j));
    out.global.push_back(block);
  }
  out.stats = session.stats();
  return out;
}

// Largest relative difference of `got` (any mesh) against `ref` (the same or a coarser mesh
// covering got's blocks): losses of every step and perturbation (elementwise), and weights
// per tensor in the max norm, max |a - b| / max |b| (biases start at 0, so elementwise
// ratios of near-zero entries would measure nothing but their smallness).
struct Diff {
  double loss = 0, weight = 0;
};
Diff compare(const Outcome& got, const Outcome& ref) {
  Diff d;
  auto rel = [](double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-3); };
  for (int t = 0; t < kSteps; ++t)
    for (int p = 0; p < kPerturb; ++p) {
      d.loss = std::max(d.loss, rel(got.steps[t].loss_plus[p], ref.steps[t].loss_plus[p]));
      d.loss = std::max(d.loss, rel(got.steps[t].loss_minus[p], ref.steps[t].loss_minus[p]));
    }
  for (std::size_t k = 0; k < got.tensors.size(); ++k) {
    const TensorInfo& g = got.tensors[k];
    const TensorInfo& r = ref.tensors[k];
    const std::int64_t di = g.row_offset() - r.row_offset(), dj = g.col_offset() - r.col_offset();
    const std::int64_t ref_cols = r.valid_cols();
    double diff = 0, scale = 0;
    for (float b : ref.global[k]) scale = std::max(scale, std::fabs(static_cast<double>(b)));
    for (std::int64_t i = 0; i < g.valid_rows(); ++i)
      for (std::int64_t j = 0; j < g.valid_cols(); ++j)
        diff = std::max(diff, std::fabs(static_cast<double>(got.global[k][i * g.valid_cols() + j]) -
                                        ref.global[k][(i + di) * ref_cols + j + dj]));
    if (diff > 0) d.weight = std::max(d.weight, diff / std::max(scale, 1e-30));
  }
  return d;
}

// Bytes this rank moved on every axis but pp, summed over kinds.
std::int64_t bytes_off_pp(const CommStats& s, Axis axis) {
  std::int64_t b = 0;
  for (int k = 0; k < kCommKindCount; ++k) b += s.at(axis, static_cast<CommKind>(k)).bytes_sent;
  return b;
}

// The pp group's per-rank allreduce traffic: 2n doubles per step, ring convention
// (comm_stats.hpp): sent = recv = 2 (pp - 1) / pp * 16 n bytes per step.
void expect_pp_bytes(const CommStats& s, int pp) {
  const std::int64_t payload = 2 * kPerturb * sizeof(double);
  const std::int64_t want = kSteps * (2 * (pp - 1) * payload / pp);
  const CommCounter& c = s.at(Axis::Pp, CommKind::Allreduce);
  EXPECT_EQ(c.calls, kSteps);
  EXPECT_EQ(c.bytes_sent, want);
  EXPECT_EQ(c.bytes_recv, want);
  for (int k = 0; k < kCommKindCount; ++k)
    if (static_cast<CommKind>(k) != CommKind::Allreduce)
      EXPECT_EQ(s.at(Axis::Pp, static_cast<CommKind>(k)).calls, 0);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    std::printf(
        "pp=%d: pp_allreduce per rank %lld calls, %lld bytes sent (closed form %d x %lld)\n", pp,
        static_cast<long long>(c.calls), static_cast<long long>(c.bytes_sent), kSteps,
        static_cast<long long>(2 * (pp - 1) * payload / pp));
}

void report(const char* what, const Diff& d) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    std::printf("%s: max relative difference losses %.3e, final weights %.3e\n", what, d.loss,
                d.weight);
}

class PerturbationParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { serial_ = new Outcome(run(pp_config(), MPI_COMM_SELF, {})); }
  static void TearDownTestSuite() { delete serial_; }
  static Outcome* serial_;
};
Outcome* PerturbationParallel::serial_ = nullptr;

TEST_F(PerturbationParallel, Pp4OfOneRankIsBitwiseOneReplica) {
  on_first_ranks(4, [&](MPI_Comm comm) {
    const Outcome got = run(pp_config(), comm, shape_of(MeshMode::TwoD, 1, 4, 1));
    const Diff d = compare(got, *serial_);
    EXPECT_EQ(d.loss, 0.0);
    EXPECT_EQ(d.weight, 0.0);
    report("pp=4 x 1 rank vs n_perturb=4 on 1 rank", d);
    expect_pp_bytes(got.stats, 4);
    for (Axis a : {Axis::Row, Axis::Col, Axis::Model, Axis::Dp, Axis::World})
      EXPECT_EQ(bytes_off_pp(got.stats, a), 0) << CommStats::axis_name(a);
  });
}

// Sparse-MeZO's thresholds (world allreduce of counts over owned blocks: pp rank 0 owns)
// and LeZO's layer subsets are the same with pp.
TEST_F(PerturbationParallel, SparseAndLezoOnPp2AreBitwiseOneReplica) {
  for (const std::string method : {"sparse_mezo", "lezo"}) {
    const Outcome ref = run(pp_config(method), MPI_COMM_SELF, {});
    on_first_ranks(2, [&](MPI_Comm comm) {
      const Outcome got = run(pp_config(method), comm, shape_of(MeshMode::TwoD, 1, 2, 1));
      const Diff d = compare(got, ref);
      EXPECT_EQ(d.loss, 0.0) << method;
      EXPECT_EQ(d.weight, 0.0) << method;
      for (int t = 0; t < kSteps; ++t)
        EXPECT_EQ(got.steps[t].active_layers, ref.steps[t].active_layers);
      report((method + " pp=2 x 1 rank vs n_perturb=4 on 1 rank").c_str(), d);
    });
  }
}

TEST_F(PerturbationParallel, Pp2Of2x2MatchesOneReplica) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world < 8) GTEST_SKIP() << "needs 8 ranks";
  on_first_ranks(8, [&](MPI_Comm comm) {
    // The same model mesh without pp, twice (ranks 0-3 and 4-7): each rank's reference block.
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm half;
    MPI_Comm_split(comm, rank / 4, rank, &half);
    const Outcome same_mesh = run(pp_config(), half, shape_of(MeshMode::TwoD, 1, 1, 2));
    MPI_Comm_free(&half);
    const Outcome got = run(pp_config(), comm, shape_of(MeshMode::TwoD, 1, 2, 2));
    const Diff bitwise = compare(got, same_mesh);
    EXPECT_EQ(bitwise.loss, 0.0);
    EXPECT_EQ(bitwise.weight, 0.0);
    report("pp=2 x 2x2 vs n_perturb=4 on 2x2", bitwise);
    const Diff d = compare(got, *serial_);
    EXPECT_LT(d.loss, 1e-5);  // a 2x2 forward sums in another order than one rank
    EXPECT_LT(d.weight, 1e-5);
    report("pp=2 x 2x2 vs n_perturb=4 on 1 rank", d);
    expect_pp_bytes(got.stats, 2);
    // Inside a model copy each rank runs n / pp of the 2x2 run's forwards, each with the
    // same traffic; nothing else crosses groups.
    for (Axis a : {Axis::Row, Axis::Col, Axis::Model})
      EXPECT_EQ(2 * bytes_off_pp(got.stats, a), bytes_off_pp(same_mesh.stats, a))
          << CommStats::axis_name(a);
    EXPECT_EQ(bytes_off_pp(got.stats, Axis::Dp), 0);
    EXPECT_EQ(bytes_off_pp(got.stats, Axis::World), 0);
  });
}

TEST_F(PerturbationParallel, ComposesWithDpAnd1D) {
  on_first_ranks(4, [&](MPI_Comm comm) {
    // dp = 2 x pp = 2: replicas split the batch, pp ranks the directions.
    const Outcome dp = run(pp_config(), comm, shape_of(MeshMode::TwoD, 2, 2, 1));
    const Diff d = compare(dp, *serial_);
    EXPECT_LT(d.loss, 1e-5);  // the dp loss reduction sums in another order
    EXPECT_LT(d.weight, 1e-5);
    report("dp=2 x pp=2 vs n_perturb=4 on 1 rank", d);
    expect_pp_bytes(dp.stats, 2);
    // 1D: pp = 2 x t = 2 against t = 2 (two copies on ranks 0-1 and 2-3), bitwise.
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm half;
    MPI_Comm_split(comm, rank / 2, rank, &half);
    const Outcome same_mesh = run(pp_config(), half, shape_of(MeshMode::OneD, 1, 1, 2));
    MPI_Comm_free(&half);
    const Outcome got = run(pp_config(), comm, shape_of(MeshMode::OneD, 1, 2, 2));
    const Diff b = compare(got, same_mesh);
    EXPECT_EQ(b.loss, 0.0);
    EXPECT_EQ(b.weight, 0.0);
    report("1d pp=2 x t=2 vs n_perturb=4 on t=2", b);
  });
}

}  // namespace
}  // namespace zoptimus

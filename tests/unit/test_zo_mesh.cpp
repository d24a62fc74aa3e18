// ZO on many meshes: mesh-invariant l+/l- trajectories, and Sparse-MeZO thresholds that hit
// the target identically on every mesh.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "kernels/philox_normal.hpp"
#include "optim/replay.hpp"
#include "optim/sparse_threshold.hpp"
#include "support/zo_test_support.hpp"

namespace zoptimus {
namespace {

using namespace zoptimus::testing;

TEST(Zo, TrajectoriesAreMeshInvariant) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const std::string method : {"mezo", "sparse_mezo", "lezo", "mezo+anderson"}) {
    Config c = base_config(method.substr(0, method.find('+')));
    c.optim.eps = 1e-2;
    c.optim.lr = 1e-3;
    if (method.find("+anderson") != std::string::npos) {
      c.optim.weight_decay = 0;
      c.optim.anderson.m = 2;  // exact Gram: one allreduce of the direction inner products
    }
    const std::vector<StepRecord> ref = run_steps(c, MPI_COMM_SELF, MeshShape{});
    for (const MeshShape& shape : meshes_for(world)) {
      on_first_ranks(shape.world_size(), [&](MPI_Comm comm) {
        const std::vector<StepRecord> got = run_steps(c, comm, shape);
        double worst = 0;
        for (int t = 0; t < c.run.steps; ++t) {
          worst = std::max(worst, std::fabs(got[t].loss_plus[0] / ref[t].loss_plus[0] - 1));
          EXPECT_NEAR(got[t].loss_plus[0], ref[t].loss_plus[0], 1e-5 * ref[t].loss_plus[0])
              << method << " " << shape.describe() << " step " << t;
          EXPECT_NEAR(got[t].loss_minus[0], ref[t].loss_minus[0], 1e-5 * ref[t].loss_minus[0])
              << method << " " << shape.describe() << " step " << t;
          EXPECT_EQ(got[t].active_layers, ref[t].active_layers);
        }
        std::printf("%s on %s: max relative l+ difference over %d steps %.2e\n", method.c_str(),
                    shape.describe().c_str(), c.run.steps, worst);
      });
    }
  }
}

TEST(Zo, SparseThresholdsHitTheTargetOnEveryMesh) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  Config c = base_config("sparse_mezo");
  Mesh one(MPI_COMM_SELF, MeshShape{});
  ModelSession ref(c, one);
  const std::vector<float> h_ref = sparse_thresholds(ref.model().params(), 0.8, ref.comm());
  std::vector<MeshShape> shapes = meshes_for(world);
  shapes.push_back(MeshShape{});
  for (const MeshShape& shape : shapes) {
    on_first_ranks(shape.world_size(), [&](MPI_Comm comm) {
      Config cs = c;
      cs.data.batch /= shape.dp;
      Mesh mesh(comm, shape);
      ModelSession session(cs, mesh);
      const ParameterStore& p = session.model().params();
      const std::vector<float> h = sparse_thresholds(p, 0.8, session.comm());
      const std::vector<std::int64_t> kept = count_below(p, h, session.comm());
      for (const auto& t : p.tensors()) {
        EXPECT_EQ(h[t.id], h_ref[t.id]) << t.name << " on " << shape.describe();
        if (t.init != InitKind::Normal) continue;  // tied values
        const double frac = static_cast<double>(kept[t.id]) / t.global_size();
        EXPECT_NEAR(frac, 0.2, 0.01) << t.name << " on " << shape.describe();
      }
    });
  }
}

}  // namespace
}  // namespace zoptimus

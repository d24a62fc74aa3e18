// Mesh: for every valid (dp, pp, q) with dp*pp*q*q <= world and (dp, pp, t) with dp*pp*t <=
// world, each rank's row / column / dp / pp / model communicators hold exactly the expected
// world ranks (world rank = (replica * pp + pp rank) * model size + model rank).
// Run at 9 ranks this covers every shape with dp*q*q <= 9 and dp*t <= 8.
#include <gtest/gtest.h>
#include <mpi.h>

#include <vector>

#include "core/error.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {
namespace {

// The ranks (in `parent`) of the members of `sub`, in sub's rank order.
std::vector<int> members_in(MPI_Comm sub, MPI_Comm parent) {
  MPI_Group g_sub, g_parent;
  MPI_Comm_group(sub, &g_sub);
  MPI_Comm_group(parent, &g_parent);
  int n = 0;
  MPI_Group_size(g_sub, &n);
  std::vector<int> in(n), out(n);
  for (int i = 0; i < n; ++i) in[i] = i;
  MPI_Group_translate_ranks(g_sub, n, in.data(), g_parent, out.data());
  MPI_Group_free(&g_sub);
  MPI_Group_free(&g_parent);
  return out;
}

// Checks one mesh shape on the first shape.world_size() ranks of MPI_COMM_WORLD.
void check_shape(const MeshShape& shape) {
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  const int n = shape.world_size();
  MPI_Comm sub;
  MPI_Comm_split(MPI_COMM_WORLD, world_rank < n ? 0 : MPI_UNDEFINED, world_rank, &sub);
  if (sub == MPI_COMM_NULL) return;
  {
    Mesh mesh(sub, shape);
    const int rows = shape.rows(), cols = shape.cols(), m = rows * cols, pp = shape.pp;
    const int copy = world_rank / m, row = (world_rank % m) / cols, col = world_rank % cols;
    const int replica = copy / pp, pp_rank = copy % pp;
    SCOPED_TRACE(shape.describe() + " rank " + std::to_string(world_rank));
    EXPECT_EQ(mesh.replica(), replica);
    EXPECT_EQ(mesh.pp_rank(), pp_rank);
    EXPECT_EQ(mesh.row(), row);
    EXPECT_EQ(mesh.col(), col);

    std::vector<int> row_ranks, col_ranks, dp_ranks, pp_ranks, model_ranks;
    for (int c = 0; c < cols; ++c) row_ranks.push_back(copy * m + row * cols + c);
    for (int r = 0; r < rows; ++r) col_ranks.push_back(copy * m + r * cols + col);
    for (int d = 0; d < shape.dp; ++d)
      dp_ranks.push_back((d * pp + pp_rank) * m + row * cols + col);
    for (int k = 0; k < pp; ++k) pp_ranks.push_back((replica * pp + k) * m + row * cols + col);
    for (int k = 0; k < m; ++k) model_ranks.push_back(copy * m + k);
    EXPECT_EQ(members_in(mesh.row_comm(), sub), row_ranks);
    EXPECT_EQ(members_in(mesh.col_comm(), sub), col_ranks);
    EXPECT_EQ(members_in(mesh.dp_comm(), sub), dp_ranks);
    EXPECT_EQ(members_in(mesh.pp_comm(), sub), pp_ranks);
    EXPECT_EQ(members_in(mesh.model(), sub), model_ranks);
  }
  MPI_Comm_free(&sub);
}

TEST(Mesh, EveryValid2DShapeHasTheExpectedCommunicators) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int checked = 0;
  for (int q = 1; q * q <= world; ++q)
    for (int dp = 1; dp * q * q <= world; ++dp)
      for (int pp = 1; dp * pp * q * q <= world; ++pp) {
        MeshShape s;
        s.mode = MeshMode::TwoD;
        s.dp = dp;
        s.pp = pp;
        s.q = q;
        check_shape(s);
        ++checked;
      }
  EXPECT_GT(checked, 0);
}

TEST(Mesh, EveryValid1DShapeHasTheExpectedCommunicators) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (int t = 1; t <= std::min(world, 8); ++t)
    for (int dp = 1; dp * t <= std::min(world, 8); ++dp)
      for (int pp = 1; dp * pp * t <= std::min(world, 8); ++pp) {
        MeshShape s;
        s.mode = MeshMode::OneD;
        s.dp = dp;
        s.pp = pp;
        s.t = t;
        check_shape(s);
      }
}

TEST(MeshShape, ResolvesDefaultsFromTheRankCount) {
  ParallelConfig p;
  p.dp = 2;
  MeshShape s = resolve_mesh_shape(p, 8);
  EXPECT_EQ(s.q, 2);
  EXPECT_EQ(s.world_size(), 8);
  p.mode = MeshMode::OneD;
  p.dp = 1;
  s = resolve_mesh_shape(p, 6);
  EXPECT_EQ(s.t, 6);
  EXPECT_EQ(s.rows(), 1);
  EXPECT_EQ(s.cols(), 6);
}

TEST(MeshShape, RejectsImpossibleMeshes) {
  ParallelConfig p;
  EXPECT_THROW(resolve_mesh_shape(p, 6), Error);  // not a square
  p.q = 3;
  EXPECT_THROW(resolve_mesh_shape(p, 4), Error);  // 9 != 4
  p.q = 0;
  p.dp = 3;
  EXPECT_THROW(resolve_mesh_shape(p, 4), Error);  // 4 % 3
  p.mode = MeshMode::OneD;
  p.dp = 2;
  p.t = 3;
  EXPECT_THROW(resolve_mesh_shape(p, 4), Error);  // 2*3 != 4
  p.t = 0;
  p.dp = 1;
  p.pp = 3;
  EXPECT_THROW(resolve_mesh_shape(p, 4), Error);  // 4 % 3
  p.mode = MeshMode::TwoD;
  p.pp = 2;
  p.q = 2;
  EXPECT_THROW(resolve_mesh_shape(p, 4), Error);  // 2*2*2 != 4
}

TEST(MeshShape, ResolvesPerturbationParallelMeshes) {
  ParallelConfig p;
  p.pp = 2;
  MeshShape s = resolve_mesh_shape(p, 8);  // 8 / pp = 4 ranks per copy: 2x2
  EXPECT_EQ(s.q, 2);
  EXPECT_EQ(s.pp, 2);
  EXPECT_EQ(s.world_size(), 8);
  EXPECT_EQ(s.describe(), "2d dp=1 x pp=2 x 2x2 (8 ranks)");
  p.mode = MeshMode::OneD;
  p.dp = 2;
  s = resolve_mesh_shape(p, 8);  // 8 / (dp * pp) = 2
  EXPECT_EQ(s.t, 2);
  EXPECT_EQ(s.describe(), "1d dp=2 x pp=2 x t=2 (8 ranks)");
}

TEST(MeshShape, ValidatesThePartition) {
  Config c;
  c.model.hidden = 96;
  c.model.heads = 6;
  c.model.ffn = 384;
  c.data.batch = 6;
  MeshShape s;
  s.q = 3;
  EXPECT_NO_THROW(validate_partition(c.model, c.data.batch, s));
  s.q = 4;  // heads 6 % 4
  EXPECT_THROW(validate_partition(c.model, c.data.batch, s), Error);
  s.q = 2;
  c.data.batch = 3;  // batch 3 % 2
  EXPECT_THROW(validate_partition(c.model, c.data.batch, s), Error);
  s.mode = MeshMode::OneD;
  s.q = 1;
  s.t = 4;  // heads 6 % 4
  EXPECT_THROW(validate_partition(c.model, c.data.batch, s), Error);
}

}  // namespace
}  // namespace zoptimus

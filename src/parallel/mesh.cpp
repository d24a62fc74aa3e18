// Mesh shape resolution, partition validation and communicator construction.
#include "parallel/mesh.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace zoptimus {

std::string MeshShape::describe() const {
  if (mode == MeshMode::TwoD)
    return fmt::format("2d dp={} x {}x{} ({} ranks)", dp, q, q, world_size());
  return fmt::format("1d dp={} x t={} ({} ranks)", dp, t, world_size());
}

MeshShape resolve_mesh_shape(const ParallelConfig& p, int world_size) {
  MeshShape s;
  s.dp = p.dp;
  if (world_size % p.dp != 0)
    fail(
        "{} MPI ranks cannot be split into parallel.dp = {} replicas ({} is not a multiple "
        "of {})",
        world_size, p.dp, world_size, p.dp);
  const int per_replica = world_size / p.dp;
  if (p.mode == MeshMode::TwoD) {
    s.mode = MeshMode::TwoD;
    if (p.q == 0) {
      int q = static_cast<int>(std::lround(std::sqrt(static_cast<double>(per_replica))));
      if (q * q != per_replica)
        fail(
            "cannot form a square 2D mesh: {} ranks / parallel.dp = {} gives {} ranks per "
            "replica, which is not a perfect square; run on dp*q*q ranks, set parallel.dp, "
            "or use parallel.mode = \"1d\"",
            world_size, p.dp, per_replica);
      s.q = q;
    } else {
      s.q = p.q;
      if (p.dp * p.q * p.q != world_size)
        fail(
            "MPI ranks ({}) != parallel.dp * parallel.q^2 = {} * {}^2 = {}; launch {} ranks "
            "or change parallel.q / parallel.dp",
            world_size, p.dp, p.q, p.dp * p.q * p.q, p.dp * p.q * p.q);
    }
  } else {
    s.mode = MeshMode::OneD;
    s.t = p.t == 0 ? per_replica : p.t;
    if (p.dp * s.t != world_size)
      fail(
          "MPI ranks ({}) != parallel.dp * parallel.t = {} * {} = {}; launch {} ranks or "
          "change parallel.t / parallel.dp",
          world_size, p.dp, s.t, p.dp * s.t, p.dp * s.t);
  }
  return s;
}

void validate_partition(const ModelConfig& m, int batch, const MeshShape& s) {
  if (s.mode == MeshMode::TwoD) {
    const int q = s.q;
    if (m.heads % q != 0)
      fail(
          "model.heads = {} is not divisible by the 2D mesh side q = {} (heads are split "
          "across mesh columns)",
          m.heads, q);
    if (m.hidden % q != 0)
      fail("model.hidden = {} is not divisible by the 2D mesh side q = {}", m.hidden, q);
    if (m.ffn % q != 0)
      fail("model.ffn = {} is not divisible by the 2D mesh side q = {}", m.ffn, q);
    if (batch % q != 0)
      fail(
          "data.batch = {} (sequences per replica) is not divisible by the 2D mesh side "
          "q = {} (the batch is split across mesh rows)",
          batch, q);
  } else {
    const int t = s.t;
    if (m.heads % t != 0)
      fail("model.heads = {} is not divisible by the 1D width t = {}", m.heads, t);
    if (m.ffn % t != 0) fail("model.ffn = {} is not divisible by the 1D width t = {}", m.ffn, t);
  }
}

MeshCoords mesh_coords(const MeshShape& s, int world_rank) {
  MeshCoords c{};
  c.replica = world_rank / s.model_size();
  c.model_rank = world_rank % s.model_size();
  c.row = c.model_rank / s.cols();
  c.col = c.model_rank % s.cols();
  return c;
}

Mesh::Mesh(MPI_Comm world, const MeshShape& shape) : shape_(shape) {
  world_ = Communicator::duplicate(world);
  world_rank_ = world_.rank();
  if (world_.size() != shape.world_size())
    fail("mesh {} needs {} ranks but the communicator has {}", shape.describe(), shape.world_size(),
         world_.size());
  coords_ = mesh_coords(shape, world_rank_);
  model_ = Communicator::split(world_, coords_.replica, coords_.model_rank);
  row_ = Communicator::split(world_, coords_.replica * shape.rows() + coords_.row, coords_.col);
  col_ = Communicator::split(world_, coords_.replica * shape.cols() + coords_.col, coords_.row);
  dp_ = Communicator::split(world_, coords_.model_rank, coords_.replica);
}

}  // namespace zoptimus

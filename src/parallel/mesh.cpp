// Mesh shape resolution, partition validation and communicator construction.
#include "parallel/mesh.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace zoptimus {

std::string MeshShape::describe() const {
  const std::string pp_part = pp > 1 ? fmt::format("pp={} x ", pp) : "";
  if (mode == MeshMode::TwoD)
    return fmt::format("2d dp={} x {}{}x{} ({} ranks)", dp, pp_part, q, q, world_size());
  return fmt::format("1d dp={} x {}t={} ({} ranks)", dp, pp_part, t, world_size());
}

MeshShape resolve_mesh_shape(const ParallelConfig& p, int world_size) {
  MeshShape s;
  s.dp = p.dp;
  s.pp = p.pp;
  const int copies = p.dp * p.pp;  // model copies: replicas x perturbation-parallel ranks
  if (world_size % copies != 0)
    fail(
        "{} MPI ranks cannot be split into parallel.dp = {} replicas x parallel.pp = {} "
        "perturbation groups ({} is not a multiple of {})",
        world_size, p.dp, p.pp, world_size, copies);
  const int per_replica = world_size / copies;
  if (p.mode == MeshMode::TwoD) {
    s.mode = MeshMode::TwoD;
    if (p.q == 0) {
      int q = static_cast<int>(std::lround(std::sqrt(static_cast<double>(per_replica))));
      if (q * q != per_replica)
        fail(
            "cannot form a square 2D mesh: {} ranks / (parallel.dp * parallel.pp = {}) gives {} "
            "ranks per model copy, which is not a perfect square; run on dp*pp*q*q ranks, set "
            "parallel.dp / parallel.pp, or use parallel.mode = \"1d\"",
            world_size, copies, per_replica);
      s.q = q;
    } else {
      s.q = p.q;
      if (copies * p.q * p.q != world_size)
        fail(
            "MPI ranks ({}) != parallel.dp * parallel.q^2 * parallel.pp = {} * {}^2 * {} = {}; "
            "launch {} ranks or change parallel.q / parallel.dp / parallel.pp",
            world_size, p.dp, p.q, p.pp, copies * p.q * p.q, copies * p.q * p.q);
    }
  } else {
    s.mode = MeshMode::OneD;
    s.t = p.t == 0 ? per_replica : p.t;
    if (copies * s.t != world_size)
      fail(
          "MPI ranks ({}) != parallel.dp * parallel.t * parallel.pp = {} * {} * {} = {}; launch "
          "{} ranks or change parallel.t / parallel.dp / parallel.pp",
          world_size, p.dp, s.t, p.pp, copies * s.t, copies * s.t);
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
  const int copy = world_rank / s.model_size();  // replica * pp + pp_rank
  c.replica = copy / s.pp;
  c.pp_rank = copy % s.pp;
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
  const int copy = coords_.replica * shape.pp + coords_.pp_rank;
  const int m = shape.model_size();
  model_ = Communicator::split(world_, copy, coords_.model_rank);
  row_ = Communicator::split(world_, copy * shape.rows() + coords_.row, coords_.col);
  col_ = Communicator::split(world_, copy * shape.cols() + coords_.col, coords_.row);
  dp_ = Communicator::split(world_, coords_.pp_rank * m + coords_.model_rank, coords_.replica);
  pp_ = Communicator::split(world_, coords_.replica * m + coords_.model_rank, coords_.pp_rank);
}

}  // namespace zoptimus

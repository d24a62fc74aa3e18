// Shared set-up of the ZO tests: a small model config, running steps on a mesh, sub-meshes.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "optim/zo_optimizer.hpp"
#include "train/model_session.hpp"

namespace zoptimus::testing {

inline Config base_config(const std::string& method) {  // method: the deck spelling
  Config c;
  c.model.vocab = 61;
  c.model.hidden = 24;
  c.model.heads = 12;
  c.model.layers = 3;
  c.model.ffn = 48;
  c.model.max_positions = 16;
  c.model.init_std = 0.1;
  c.data.batch = 12;  // divisible by q = 2, 3 and by dp * q = 4
  c.data.seq_len = 8;
  c.optim.method = *parse_choice<ZoMethod>(method);
  c.optim.lr = 5e-3;
  c.optim.eps = 1e-3;
  c.optim.sparsity = 0.8;
  c.optim.active_layers = 1;
  c.optim.weight_decay = 0.01;
  c.run.steps = 20;
  return c;
}

inline std::vector<StepRecord> run_steps(Config c, MPI_Comm comm, const MeshShape& shape) {
  c.data.batch /= shape.dp;  // the same global batch on every mesh
  Mesh mesh(comm, shape);
  ModelSession session(c, mesh);
  ZoOptimizer opt = make_zo_optimizer(c, session);
  std::vector<StepRecord> out;
  for (int t = 0; t < c.run.steps; ++t) out.push_back(zo_train_step(opt, session, t));
  return out;
}

// Runs fn on the first n ranks of the world (others skip).
template <class Fn>
inline void on_first_ranks(int n, Fn&& fn) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm sub;
  MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, &sub);
  if (sub == MPI_COMM_NULL) return;
  fn(sub);
  MPI_Comm_free(&sub);
}

inline std::vector<MeshShape> meshes_for(int world) {
  std::vector<MeshShape> out;
  auto add2 = [&](int dp, int q) {
    MeshShape s;
    s.dp = dp;
    s.q = q;
    if (s.world_size() == world) out.push_back(s);
  };
  auto add1 = [&](int dp, int t) {
    MeshShape s;
    s.mode = MeshMode::OneD;
    s.dp = dp;
    s.t = t;
    if (s.world_size() == world) out.push_back(s);
  };
  add2(1, 2), add1(1, 4), add2(2, 2), add2(1, 3), add1(1, 2);
  return out;
}

}  // namespace zoptimus::testing

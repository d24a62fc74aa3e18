// optim.offload (model/offload/): the same deck with and without offloading gives
// bit-identical losses of every step and bit-identical final weights (every byte of every
// local block), for MeZO, Sparse-MeZO (with threshold refreshes, which flush mid-run) and
// LeZO, n_perturb = 2, with the minimum ring (3 slots) and with one slot per layer, on one
// rank and on the 2x2, 1D and dp meshes of 4 ranks. Copy counts are checked against the
// closed form (each layer uploaded once per forward pass and written back once per applied
// update, and under LeZO only the layers that update touched; layer bytes from the tensor
// table), the registry against what is device-resident,
// and a cap below the minimum ring is refused on every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "model/memory_estimate.hpp"
#include "support/zo_test_support.hpp"

namespace zoptimus {
namespace {

using namespace zoptimus::testing;

constexpr int kLayers = 5;

struct Outcome {
  std::vector<StepRecord> steps;
  std::vector<std::vector<char>> blocks;  // per tensor: the local block's bytes
};

Config offload_config(const std::string& method, int n_perturb) {
  Config c = base_config(method);
  c.model.layers = kLayers;
  c.optim.n_perturb = n_perturb;
  c.optim.weight_decay = 0.01;
  c.optim.sparse_refresh = 2;
  c.optim.active_layers = 2;
  c.optim.eps = 1e-2;
  c.optim.lr = 1e-3;
  c.run.steps = 4;
  return c;
}

std::vector<std::vector<char>> block_bytes(const ParameterStore& p) {
  std::vector<std::vector<char>> out;
  for (const auto& t : p.tensors()) {
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p.data(t.id));
    const char* b = reinterpret_cast<const char*>(host.data());
    out.emplace_back(b, b + host.size() * sizeof(float));
  }
  return out;
}

Outcome run(Config c, MPI_Comm comm, const MeshShape& shape, bool offload, std::int64_t cap) {
  c.data.batch /= shape.dp;
  c.optim.offload = offload;
  c.optim.offload_device_bytes = cap;
  Mesh mesh(comm, shape);
  ModelSession session(c, mesh);
  ZoOptimizer opt = make_zo_optimizer(c, session);
  Outcome out;
  for (int t = 0; t < c.run.steps; ++t) out.steps.push_back(zo_train_step(opt, session, t));
  opt.flush();
  out.blocks = block_bytes(session.model().params());
  return out;
}

std::vector<MeshShape> meshes(int world) {
  MeshShape one;
  if (world == 1) return {one};
  MeshShape two_d, one_d, dp;
  two_d.q = 2;
  one_d.mode = MeshMode::OneD;
  one_d.t = 4;
  dp.dp = 4;
  dp.q = 1;
  return {two_d, one_d, dp};
}

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

TEST(Offload, OnAndOffAreBitIdentical) {
  for (const MeshShape& shape : meshes(world_size()))
    for (const char* method : {"mezo", "sparse_mezo", "lezo"}) {
      SCOPED_TRACE(fmt::format("{} on {}", method, shape.describe()));
      const Config c = offload_config(method, 2);
      const Outcome ref = run(c, MPI_COMM_WORLD, shape, false, 0);
      // cap 0: the minimum ring (3 slots, layers reuse slots); a large cap: one per layer.
      for (std::int64_t cap : {std::int64_t{0}, std::int64_t{1} << 40}) {
        const Outcome got = run(c, MPI_COMM_WORLD, shape, true, cap);
        ASSERT_EQ(got.steps.size(), ref.steps.size());
        for (std::size_t t = 0; t < ref.steps.size(); ++t) {
          EXPECT_EQ(got.steps[t].loss_plus, ref.steps[t].loss_plus) << "step " << t;
          EXPECT_EQ(got.steps[t].loss_minus, ref.steps[t].loss_minus) << "step " << t;
        }
        ASSERT_EQ(got.blocks.size(), ref.blocks.size());
        for (std::size_t k = 0; k < ref.blocks.size(); ++k)
          EXPECT_TRUE(got.blocks[k] == ref.blocks[k]) << "tensor " << k << ", cap " << cap;
      }
    }
}

// One layer's local bytes from the tensor table (independent of the pipeline's own count).
std::int64_t layer_bytes_of(const ParameterStore& p, int layer) {
  std::int64_t b = 0;
  for (const auto& t : p.tensors())
    if (t.layer == layer) b += t.local_rows() * t.local_cols() * std::int64_t{sizeof(float)};
  return b;
}

TEST(Offload, CopiesMatchTheClosedForm) {
  for (const MeshShape& shape : meshes(world_size())) {
    for (int n_perturb : {1, 2}) {
      SCOPED_TRACE(fmt::format("n_perturb {} on {}", n_perturb, shape.describe()));
      Config c = offload_config("mezo", n_perturb);
      c.data.batch /= shape.dp;
      c.optim.offload = true;
      Mesh mesh(MPI_COMM_WORLD, shape);
      const WorkspaceRegistry& ws = WorkspaceRegistry::process();
      const std::int64_t device_params0 = ws.current(WorkspacePurpose::Parameters);
      const std::int64_t host_params0 = ws.current(WorkspacePurpose::Parameters, MemoryPlace::Host);
      ModelSession session(c, mesh);
      ZoOptimizer opt = make_zo_optimizer(c, session);
      const ParameterStore& p = session.model().params();
      const OffloadPipeline& off = *session.offload();

      // Only the non-layer tensors are device parameters; the layers are host masters; the
      // ring (3 slots for cap 0) is registered as offload slots.
      std::int64_t layers_bytes = 0, others = 0;
      for (const auto& t : p.tensors())
        (t.layer >= 0 ? layers_bytes : others) +=
            t.local_rows() * t.local_cols() * std::int64_t{sizeof(float)};
      EXPECT_EQ(ws.current(WorkspacePurpose::Parameters) - device_params0, others);
      EXPECT_EQ(ws.current(WorkspacePurpose::Parameters, MemoryPlace::Host) - host_params0,
                layers_bytes);
      EXPECT_EQ(off.ring().slots(), 3);
      EXPECT_EQ(ws.current(WorkspacePurpose::OffloadSlots), off.ring().bytes());
      EXPECT_GE(off.ring().bytes(), 3 * layer_bytes_of(p, 0));
      // The closed-form estimate (--memory-estimate, the start-up check) agrees: host bytes
      // exactly (the tiny model's layers divide evenly), the ring up to the slots' 64-byte
      // alignment, the device-resident rest up to the vocabulary's padding (61 rows padded
      // to a multiple of the mesh side: < 5 %).
      const MemoryEstimate e =
          estimate_memory(ModelDims::from_config(c.model), shape, c.data.batch, c.data.seq_len,
                          /*lm_head=*/true, /*offload_cap=*/0);
      EXPECT_EQ(e.host_parameters, static_cast<double>(layers_bytes));
      EXPECT_NEAR(e.parameters, static_cast<double>(others), 0.05 * others);
      EXPECT_LE(e.offload_slots, static_cast<double>(off.ring().bytes()));
      EXPECT_GE(e.offload_slots + 3 * 12 * 64, static_cast<double>(off.ring().bytes()));

      const int steps = c.run.steps;
      for (int t = 0; t < steps; ++t) zo_train_step(opt, session, t);
      // Each forward pass uploads every layer once (both streams use it); the first pass of
      // steps 1.. applies the previous step's update and writes every layer back once.
      for (int l = 0; l < kLayers; ++l) {
        EXPECT_EQ(off.uploads_per_layer()[l], steps * n_perturb) << "layer " << l;
        EXPECT_EQ(off.writebacks_per_layer()[l], steps - 1) << "layer " << l;
      }
      const std::int64_t lb = layer_bytes_of(p, 0);
      EXPECT_EQ(off.counters().upload_bytes, std::int64_t{steps} * n_perturb * kLayers * lb);
      EXPECT_EQ(off.counters().writeback_bytes, std::int64_t{steps - 1} * kLayers * lb);
      opt.flush();  // the last update: one more upload and writeback of every layer
      EXPECT_EQ(off.counters().uploads, (std::int64_t{steps} * n_perturb + 1) * kLayers);
      EXPECT_EQ(off.counters().writebacks, std::int64_t{steps} * kLayers);
      session.evaluate();  // reads only: uploads, no writeback
      EXPECT_EQ(off.counters().writebacks, std::int64_t{steps} * kLayers);
      EXPECT_GT(off.counters().uploads, (std::int64_t{steps} * n_perturb + 1) * kLayers);
    }
  }
}

TEST(Offload, LezoWritesBackOnlyTheLayersItUpdated) {
  // LeZO perturbs 2 of the 5 layers per step; the update of step t is applied in the first
  // pass of step t + 1, and only those layers travel back to the host.
  const MeshShape shape = meshes(world_size()).front();
  Config c = offload_config("lezo", 1);
  c.data.batch /= shape.dp;
  c.optim.offload = true;
  Mesh mesh(MPI_COMM_WORLD, shape);
  ModelSession session(c, mesh);
  ZoOptimizer opt = make_zo_optimizer(c, session);
  std::vector<std::int64_t> expected(kLayers, 0);
  for (int t = 0; t < c.run.steps; ++t) {
    const StepRecord r = zo_train_step(opt, session, t);
    ASSERT_EQ(r.active_layers.size(), 2u);
    if (t + 1 < c.run.steps)
      for (int l : r.active_layers) ++expected[l];
  }
  EXPECT_EQ(session.offload()->writebacks_per_layer(), expected);
}

TEST(Offload, CapBelowTheMinimumRingIsRefusedOnEveryRank) {
  const MeshShape shape = meshes(world_size()).front();
  Config c = offload_config("mezo", 1);
  c.optim.offload = true;
  Mesh mesh(MPI_COMM_WORLD, shape);
  std::int64_t slot_bytes = 0;
  {
    ModelSession session(c, mesh);
    slot_bytes = session.offload()->ring().bytes() / session.offload()->ring().slots();
  }
  c.optim.offload_device_bytes = 3 * slot_bytes;  // exactly the minimum: accepted
  {
    ModelSession session(c, mesh);
    EXPECT_EQ(session.offload()->ring().slots(), 3);
  }
  c.optim.offload_device_bytes = 3 * slot_bytes - 1;
  try {
    ModelSession session(c, mesh);
    ADD_FAILURE() << "a cap below 3 slots was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is smaller than the smallest offload ring: 3 slots"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace zoptimus

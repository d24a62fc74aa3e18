// GPU test: CPU and GPU losses of the same deck agree. The tiny deck's model
// (inputs/tiny.toml) with deterministic weights is run by the partitioned model on this
// build's device (Kokkos CUDA, cuBLAS GEMMs, the chosen collectives backend) and by the serial
// double-precision reference forward on the host (tests/support/reference_opt); the LM and
// classification losses agree within 1e-4 relative (fp32 on the device against a double
// reference: the CPU build's own test, test_transformer, holds 1e-5 on the same comparison,
// and GPU reductions reassociate fp32 sums, so 10x that margin).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/build_info.hpp"
#include "core/config.hpp"
#include "gpu/gpu_test_support.hpp"
#include "io/synthetic_data.hpp"
#include "model/transformer.hpp"
#include "support/reference_model.hpp"

namespace zoptimus {
namespace {

constexpr double kRelTol = 1e-4;

void check_tiny_deck(CommBackend backend) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const Config config = load_config(ZOPTIMUS_SOURCE_DIR "/inputs/tiny.toml", {});
  const ModelConfig& m = config.model;
  const MeshShape shape = resolve_mesh_shape(config.parallel, world);
  validate_partition(m, config.data.batch, shape);
  const reference::Dims rd = test_support::reference_dims(m);
  const reference::Params ref_params = reference::make_params(rd, 99);

  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives comm(mesh, stats, backend);
  DataConfig data = config.data;
  Transformer model(ModelDims::from_config(m), mesh, comm, data.batch, data.seq_len);
  test_support::load_reference_params(model, ref_params);
  StoredWeights weights(model.params());

  DataConfig global = data;
  global.batch = data.batch * shape.dp;
  Batch batch = synthetic_batch(data, m.vocab, mesh.replica(), shape.dp, 0);
  Batch all = synthetic_batch(global, m.vocab, 0, 1, 0);
  const LossSums gpu = model.lm_loss(batch, weights);
  const auto cpu = reference::lm_loss(rd, ref_params, all.tokens, all.batch, all.seq, -1);
  const double cpu_mean = cpu.first / cpu.second;
  EXPECT_EQ(gpu.count, cpu.second);
  EXPECT_LE(std::abs(gpu.mean() - cpu_mean), kRelTol * std::abs(cpu_mean))
      << "lm loss: gpu " << gpu.mean() << " cpu " << cpu_mean;

  data.task = global.task = Task::Classification;
  Batch cb = synthetic_batch(data, m.vocab, mesh.replica(), shape.dp, 3);
  Batch call = synthetic_batch(global, m.vocab, 0, 1, 3);
  const LossSums gpu_cls = model.classification_loss(cb, weights);
  const auto cpu_cls =
      reference::classification_loss(rd, ref_params, call.tokens, call.batch, call.seq,
                                     call.last_pos, call.label_words, call.labels);
  const double cpu_cls_mean = cpu_cls.first / global.batch;
  EXPECT_LE(std::abs(gpu_cls.mean() - cpu_cls_mean), kRelTol * std::abs(cpu_cls_mean))
      << "classification loss: gpu " << gpu_cls.mean() << " cpu " << cpu_cls_mean;
  EXPECT_EQ(gpu_cls.correct, cpu_cls.second);
}

// The default backend: one rank, where no collective moves data.
TEST(LossCpuGpu, TinyDeckMpiBackendOneRank) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 1)
    GTEST_SKIP() << test_support::skip_line(
        "the \"mpi\" backend takes host memory: on device data it runs on one rank only");
  check_tiny_deck(CommBackend::Mpi);
}

// NCCL carries the model's collectives on device memory (one GPU per rank).
TEST(LossCpuGpu, TinyDeckNccl) {
  if (!build_info::kHaveNccl) GTEST_SKIP() << test_support::skip_line("built without NCCL");
  const std::string why = test_support::one_gpu_per_rank_missing();
  if (!why.empty()) GTEST_SKIP() << test_support::skip_line(why);
  check_tiny_deck(CommBackend::Nccl);
}

}  // namespace
}  // namespace zoptimus

// What one forward pass moves and holds per rank: the communication counters equal the
// closed-form counts (docs/design.md), and 2D activations shrink as the mesh grows.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/workspace_registry.hpp"
#include "io/synthetic_data.hpp"
#include "linalg/summa.hpp"
#include "model/transformer.hpp"

namespace zoptimus {
namespace {

ModelConfig demo_model() {
  ModelConfig m;
  m.vocab = 260;
  m.hidden = 36;
  m.heads = 6;
  m.layers = 2;
  m.ffn = 4 * 36;  // the formula assumes ffn = 4h
  m.max_positions = 64;
  return m;
}

MeshShape square_mesh() {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MeshShape s;
  s.q = static_cast<int>(std::lround(std::sqrt(world)));
  return s;
}

// Per-rank SUMMA broadcast volume of one forward with standard SUMMA:
// (q-1)/q * (7 b s h + 12 h^2)/q elements per layer: the design's (7bsh + 12h^2)/q counts
// every panel, the (q-1)/q leaves out the panels a rank already holds.
TEST(ForwardCosts, StandardSummaTrafficEqualsTheFormula) {
  const MeshShape shape = square_mesh();
  const int q = shape.q;
  if (q * q != shape.world_size()) GTEST_SKIP() << "needs a square rank count";
  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives comm(mesh, stats);
  const ModelConfig mc = demo_model();
  DataConfig data;
  data.batch = 6;
  data.seq_len = 16;
  Transformer model(ModelDims::from_config(mc), mesh, comm, data.batch, data.seq_len,
                    SummaChoice::Standard);
  model.params().initialize(1, 0.02f);
  StoredWeights w(model.params());
  Batch batch = synthetic_batch(data, mc.vocab, 0, 1, 0);
  model.forward(batch, w);
  const std::int64_t bsh = std::int64_t{data.batch} * data.seq_len * mc.hidden;
  const std::int64_t h2 = std::int64_t{mc.hidden} * mc.hidden;
  const std::int64_t expected = mc.layers * (q - 1) * (7 * bsh + 12 * h2) / (q * q) * 4;
  const std::int64_t got = stats.at(Axis::Row, CommKind::Bcast).bytes_recv +
                           stats.at(Axis::Col, CommKind::Bcast).bytes_recv;
  EXPECT_EQ(got, expected);
}

// Every byte of forward + LM head: embedding reduce-scatter, LayerNorm stats allreduces, each
// GEMM with the variant Auto picks, the A B^T head.
TEST(ForwardCosts, AllForwardTrafficEqualsClosedForms) {
  const MeshShape shape = square_mesh();
  const int q = shape.q;
  if (q * q != shape.world_size()) GTEST_SKIP() << "needs a square rank count";
  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives comm(mesh, stats);
  const ModelConfig mc = demo_model();
  for (int batch_size : {q, 6 * q}) {  // few tokens (weight-stationary wins) and more
    DataConfig data;
    data.batch = batch_size;
    data.seq_len = 4;
    Transformer model(ModelDims::from_config(mc), mesh, comm, data.batch, data.seq_len);
    model.params().initialize(1, 0.02f);
    StoredWeights w(model.params());
    Batch batch = synthetic_batch(data, mc.vocab, 0, 1, 0);
    stats.reset();
    model.forward(batch, w);
    model.compute_logits(w);

    const std::int64_t T = std::int64_t{data.batch} * data.seq_len, h = mc.hidden, F = mc.ffn;
    const std::int64_t Vp = (mc.vocab + q - 1) / q * q;
    const bool diag = mesh.row() == mesh.col();
    auto gemm_recv = [&](std::int64_t K, std::int64_t N) {
      return summa_ab_recv_elements(choose_summa_variant(T, N, K, q), T, N, K, q, diag);
    };
    std::int64_t elems = 0;
    elems += (q - 1) * (T * h / q) / q;  // embedding reduce-scatter of [T, h/q]
    for (int l = 0; l < mc.layers; ++l)
      elems += gemm_recv(h, 3 * h) + gemm_recv(h, h) + gemm_recv(h, F) + gemm_recv(F, h);
    elems += summa_abt_recv_elements(T, Vp, h, q);
    std::int64_t bytes = elems * 4;
    // LayerNorm: (2 layers + final) allreduces of [T/q, 2] doubles along the row.
    const std::int64_t ln = (T / q) * 2 * 8;
    bytes += (2 * mc.layers + 1) * (2 * (q - 1) * ln / q);
    EXPECT_EQ(stats.total_recv(), bytes) << "batch " << batch_size;
  }
}

// The LM loss moves what forward + the A B^T head move (the head in chunks moves the same
// bytes; its row reduces become q per chunk), plus the cross-entropy's three row allreduces
// of one float per local token and the loss sums' column allreduce of three doubles.
TEST(ForwardCosts, ChunkedLmLossTrafficEqualsClosedForms) {
  const MeshShape shape = square_mesh();
  const int q = shape.q;
  if (q * q != shape.world_size()) GTEST_SKIP() << "needs a square rank count";
  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives comm(mesh, stats);
  ModelConfig mc = demo_model();
  mc.logits_chunk_tokens = 5;  // divides no local token count below (4 and 24)
  for (int batch_size : {q, 6 * q}) {
    DataConfig data;
    data.batch = batch_size;
    data.seq_len = 4;
    Transformer model(ModelDims::from_config(mc), mesh, comm, data.batch, data.seq_len);
    model.params().initialize(1, 0.02f);
    StoredWeights w(model.params());
    Batch batch = synthetic_batch(data, mc.vocab, 0, 1, 0);
    stats.reset();
    model.forward(batch, w);
    model.compute_logits(w);
    const std::int64_t whole = stats.total_recv();  // checked against closed forms above
    stats.reset();
    model.lm_loss(batch, w);
    const std::int64_t local_tokens = std::int64_t{data.batch} * data.seq_len / q;
    auto allreduce_recv = [&](std::int64_t n_bytes) { return 2 * (q - 1) * n_bytes / q; };
    const std::int64_t expected =
        whole + 3 * allreduce_recv(4 * local_tokens) + allreduce_recv(3 * 8);
    EXPECT_EQ(stats.total_recv(), expected) << "batch " << batch_size;
    const std::int64_t chunks = (local_tokens + 4) / 5;
    EXPECT_EQ(stats.at(Axis::Row, CommKind::Reduce).calls, q > 1 ? q * chunks : 0)
        << "batch " << batch_size;
  }
}

// The LM loss holds one [chunk, local vocab] logits buffer (model.logits_chunk_tokens rows,
// at most the local tokens), registered as activations, and never the whole [tokens, local
// vocab] block; compute_logits (for inspection) adds exactly that block.
TEST(ForwardCosts, LogitsBufferIsOneChunk) {
  const MeshShape shape = square_mesh();
  const int q = shape.q;
  if (q * q != shape.world_size()) GTEST_SKIP() << "needs a square rank count";
  Mesh mesh(MPI_COMM_WORLD, shape);
  CommStats stats;
  Collectives comm(mesh, stats);
  const WorkspaceRegistry& ws = WorkspaceRegistry::process();
  for (int chunk : {1, 7, 1000}) {
    ModelConfig mc = demo_model();
    mc.logits_chunk_tokens = chunk;
    DataConfig data;
    data.batch = 2 * q;
    data.seq_len = 16;
    const std::int64_t act0 = ws.current(WorkspacePurpose::Activations);
    Transformer model(ModelDims::from_config(mc), mesh, comm, data.batch, data.seq_len);
    model.params().initialize(1, 0.02f);
    StoredWeights w(model.params());
    const std::int64_t built = ws.current(WorkspacePurpose::Activations) - act0;
    const LossSums loss = model.lm_loss(synthetic_batch(data, mc.vocab, 0, 1, 0), w);
    const std::int64_t after_loss = ws.current(WorkspacePurpose::Activations) - act0;
    const std::int64_t tokens = std::int64_t{data.batch} * data.seq_len / q;  // 32 per rank
    const std::int64_t vocab_local = (mc.vocab + q - 1) / q;
    const std::int64_t rows = std::min<std::int64_t>(chunk, tokens);
    EXPECT_EQ(after_loss - built, 4 * rows * vocab_local) << "chunk " << chunk;
    EXPECT_EQ(after_loss, model.activation_bytes()) << "chunk " << chunk;
    EXPECT_EQ(model.logits_chunk_bytes(), 4 * rows * vocab_local) << "chunk " << chunk;
    EXPECT_EQ(loss.count, double(data.batch) * (data.seq_len - 1));
    model.compute_logits(w);
    EXPECT_EQ(ws.current(WorkspacePurpose::Activations) - act0 - after_loss,
              4 * tokens * vocab_local)
        << "chunk " << chunk;
  }
}

// Activation memory per rank: 2x2 holds at most 1/3 of one rank's for the same global batch,
// and less than 1D t=4 (which replicates activations). SUMMA's communication panels are
// reported beside it, not counted as activations. The figures are the WorkspaceRegistry's
// (what the run log and bench forward report), checked against the model's own view sizes.
TEST(ForwardCosts, TwoDActivationsShrink) {
  int world, rank;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (world != 4) GTEST_SKIP() << "compares 2x2, 1D t=4 and 1 rank";
  ModelConfig mc = demo_model();
  mc.hidden = 64;
  mc.heads = 4;
  mc.ffn = 256;
  const int batch = 4, seq = 32;
  const WorkspaceRegistry& ws = WorkspaceRegistry::process();
  auto bytes_on = [&](MPI_Comm comm, MeshShape s) {
    const std::int64_t act0 = ws.current(WorkspacePurpose::Activations);
    const std::int64_t pan0 = ws.current(WorkspacePurpose::SummaPanels);
    Mesh mesh(comm, s);
    CommStats stats;
    Collectives coll(mesh, stats);
    Transformer model(ModelDims::from_config(mc), mesh, coll, batch, seq);
    model.params().initialize(1, 0.02f);
    StoredWeights w(model.params());
    DataConfig data;
    data.batch = batch;
    data.seq_len = seq;
    model.lm_loss(synthetic_batch(data, mc.vocab, 0, 1, 0), w);  // sizes the SUMMA workspace
    const std::int64_t act = ws.current(WorkspacePurpose::Activations) - act0;
    const std::int64_t pan = ws.current(WorkspacePurpose::SummaPanels) - pan0;
    EXPECT_EQ(act, model.activation_bytes()) << s.describe();
    EXPECT_EQ(pan, model.comm_buffer_bytes()) << s.describe();
    return std::make_pair(act, pan);
  };
  MeshShape one, two_d, one_d;
  two_d.q = 2;
  one_d.mode = MeshMode::OneD;
  one_d.t = 4;
  const auto [b1, w1] = bytes_on(MPI_COMM_SELF, one);
  const auto [b2, w2] = bytes_on(MPI_COMM_WORLD, two_d);
  const auto [b1d, w1d] = bytes_on(MPI_COMM_WORLD, one_d);
  if (rank == 0)
    std::printf(
        "activation bytes per rank: 1 rank %lld, 2x2 %lld (%.3f), 1D t=4 %lld (%.3f); "
        "SUMMA panel bytes: 1 rank %lld, 2x2 %lld, 1D t=4 %lld\n",
        static_cast<long long>(b1), static_cast<long long>(b2), double(b2) / b1,
        static_cast<long long>(b1d), double(b1d) / b1, static_cast<long long>(w1),
        static_cast<long long>(w2), static_cast<long long>(w1d));
  EXPECT_LE(3 * b2, b1);
  EXPECT_LT(b2, b1d);
}

}  // namespace
}  // namespace zoptimus

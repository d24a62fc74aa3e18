// The distributed blocks of model/layers/, one at a time, against serial double-precision
// computations on the whole tensors, on the 2D and 1D meshes of the rank count: each rank's
// output block must equal the matching block of the serial result.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/layers/layer_norm.hpp"
#include "model/layers/parallel_linear.hpp"
#include "model/layers/vocab_parallel_cross_entropy.hpp"
#include "model/layers/vocab_parallel_embedding.hpp"
#include "model/model_dims.hpp"

namespace zoptimus {
namespace {

constexpr int kBatch = 4, kSeq = 3, kTokens = kBatch * kSeq;

// Vocabulary 30 is not a multiple of 4: the last vocabulary block holds padding.
ModelDims small_dims() {
  ModelDims d;
  d.vocab = 30;
  d.hidden = 8;
  d.heads = 4;
  d.head_dim = 2;
  d.layers = 1;
  d.ffn = 16;
  d.max_positions = 8;
  return d;
}

std::vector<MeshShape> meshes_for(int world) {
  std::vector<MeshShape> out;
  MeshShape one_d;
  one_d.mode = MeshMode::OneD;
  one_d.t = world;
  out.push_back(one_d);
  const int q = static_cast<int>(std::lround(std::sqrt(world)));
  if (q * q == world) {
    MeshShape two_d;
    two_d.q = q;
    out.push_back(two_d);
  }
  return out;
}

// A deterministic value in [-2, 2] of a global position, the same on every rank.
double value(int i, int j, int salt) {
  return 2.0 * std::sin(0.91 * i + 1.37 * j + 0.53 * salt);
}

std::vector<float> global_matrix(int rows, int cols, int salt) {
  std::vector<float> m(static_cast<std::size_t>(rows) * cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) m[static_cast<std::size_t>(i) * cols + j] = value(i, j, salt);
  return m;
}

// The block [r0, r0 + rows) x [c0, c0 + cols) of a row-major global matrix, as a device
// Matrix; entries outside the global matrix (padding) are `pad`.
Matrix block_of(const std::vector<float>& g, int grows, int gcols, int r0, int rows, int c0,
                int cols, float pad = 0.0f) {
  Matrix m("block", rows, cols);
  auto h = Kokkos::create_mirror_view(m);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const int gi = r0 + i, gj = c0 + j;
      h(i, j) = gi < grows && gj < gcols ? g[static_cast<std::size_t>(gi) * gcols + gj] : pad;
    }
  Kokkos::deep_copy(m, h);
  return m;
}

struct MeshFixture {
  explicit MeshFixture(const MeshShape& s) : mesh(MPI_COMM_WORLD, s), comm(mesh, stats) {}
  bool two_d() const { return mesh.shape().mode == MeshMode::TwoD; }
  int local_tokens() const { return kTokens / mesh.rows(); }
  int token_offset() const { return mesh.row() * local_tokens(); }
  Mesh mesh;
  CommStats stats;
  Collectives comm;
};

TEST(ModelLayers, LayerNormMatchesSerialOverTheHiddenSplit) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const MeshShape& shape : meshes_for(world)) {
    SCOPED_TRACE(shape.describe());
    MeshFixture f(shape);
    const ModelDims d = small_dims();
    const int h_loc = f.two_d() ? d.hidden / f.mesh.cols() : d.hidden;
    const int c0 = f.two_d() ? f.mesh.col() * h_loc : 0;
    const int T = f.local_tokens(), t0 = f.token_offset();
    const auto X = global_matrix(kTokens, d.hidden, 1);
    const auto G = global_matrix(1, d.hidden, 2), B = global_matrix(1, d.hidden, 3);
    Matrix y("y", T, h_loc);
    DistributedLayerNorm norm(LayerContext{f.mesh, f.comm}, T, d.hidden, d.layernorm_eps);
    norm.apply(block_of(X, kTokens, d.hidden, t0, T, c0, h_loc),
               block_of(G, 1, d.hidden, 0, 1, c0, h_loc), block_of(B, 1, d.hidden, 0, 1, c0, h_loc),
               y);
    auto yh = Kokkos::create_mirror_view_and_copy(HostSpace(), y);
    double max_err = 0;
    for (int t = 0; t < T; ++t) {
      double mean = 0, var = 0;
      for (int j = 0; j < d.hidden; ++j) mean += X[(t0 + t) * d.hidden + j];
      mean /= d.hidden;
      for (int j = 0; j < d.hidden; ++j) var += std::pow(X[(t0 + t) * d.hidden + j] - mean, 2);
      var /= d.hidden;
      for (int j = 0; j < h_loc; ++j) {
        const int gj = c0 + j;
        const double ref =
            (X[(t0 + t) * d.hidden + gj] - mean) / std::sqrt(var + d.layernorm_eps) * G[gj] + B[gj];
        max_err = std::max(max_err, std::abs(yh(t, j) - ref));
      }
    }
    // fp32 with per-token sums of 8 values of size <= 2: a few ulps of values <= ~10.
    EXPECT_LE(max_err, 1e-5);
  }
}

TEST(ModelLayers, EmbeddingEqualsTheTableRowsOfEachToken) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const MeshShape& shape : meshes_for(world)) {
    SCOPED_TRACE(shape.describe());
    MeshFixture f(shape);
    const ModelDims d = small_dims();
    ParameterStore params = build_opt_parameters(d, shape, f.mesh.coords());
    const TensorInfo& info = params.info("embed_tokens");
    const auto E = global_matrix(d.vocab, d.hidden, 4);
    params.set_block_from_global(info.id, E.data());
    Batch batch;
    batch.batch = kBatch;
    batch.seq = kSeq;
    for (int i = 0; i < kTokens; ++i) batch.tokens.push_back((7 * i + 3) % d.vocab);
    const int T = f.local_tokens(), t0 = f.token_offset();
    const int h_loc = static_cast<int>(info.local_cols()), c0 = static_cast<int>(info.col_offset());
    Matrix x("x", T, h_loc);
    VocabParallelEmbedding embedding(LayerContext{f.mesh, f.comm}, kBatch, kSeq, h_loc);
    embedding.forward(batch, params.data(info.id), info, x);
    auto xh = Kokkos::create_mirror_view_and_copy(HostSpace(), x);
    int wrong = 0;
    // One rank holds each row, the others add zeros: the sum is exact.
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < h_loc; ++j)
        wrong += xh(t, j) != E[batch.tokens[t0 + t] * d.hidden + c0 + j];
    EXPECT_EQ(wrong, 0);
  }
}

TEST(ModelLayers, CrossEntropyMatchesSerialLogSoftmaxAndIgnoresPadding) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const MeshShape& shape : meshes_for(world)) {
    SCOPED_TRACE(shape.describe());
    MeshFixture f(shape);
    const ModelDims d = small_dims();
    const int T = f.local_tokens(), t0 = f.token_offset();
    const int v_loc = (d.vocab + f.mesh.cols() - 1) / f.mesh.cols();
    const int v0 = f.mesh.col() * v_loc;
    const int valid = std::clamp(d.vocab - v0, 0, v_loc);
    const auto Z = global_matrix(kTokens, d.vocab, 5);
    std::vector<int> targets(kTokens);
    for (int i = 0; i < kTokens; ++i) targets[i] = i % 5 == 2 ? -1 : (11 * i + 1) % d.vocab;
    // Padding columns hold a huge logit: counted, it would dominate the loss.
    const Matrix logits = block_of(Z, kTokens, d.vocab, t0, T, v0, v_loc, 1e4f);
    CrossEntropyBuffers ws("test::", T);
    const LossSums got = vocab_parallel_cross_entropy(LayerContext{f.mesh, f.comm}, logits,
                                                      targets.data() + t0, v0, valid, ws);
    double sum = 0, count = 0;
    for (int t = t0; t < t0 + T; ++t) {
      if (targets[t] < 0) continue;
      double m = -1e300, se = 0;
      for (int v = 0; v < d.vocab; ++v) m = std::max(m, static_cast<double>(Z[t * d.vocab + v]));
      for (int v = 0; v < d.vocab; ++v) se += std::exp(Z[t * d.vocab + v] - m);
      sum += std::log(se) + m - Z[t * d.vocab + targets[t]];
      count += 1;
    }
    EXPECT_EQ(got.count, count);
    // fp32 sums of exponentials per token: relative error ~1e-7 per token, ~10 tokens.
    EXPECT_NEAR(got.sum, sum, 1e-5 * sum);
  }
}

TEST(ModelLayers, LinearMatchesSerialForBothOneDSplits) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (const MeshShape& shape : meshes_for(world)) {
    SCOPED_TRACE(shape.describe());
    MeshFixture f(shape);
    const int in = 8, out = 16, T = f.local_tokens(), t0 = f.token_offset();
    const int q = f.mesh.cols(), c = f.mesh.col(), r = f.mesh.row();
    const auto X = global_matrix(kTokens, in, 6), W = global_matrix(in, out, 7);
    ForwardTimes times;
    ParallelLinear linear(LayerContext{f.mesh, f.comm}, SummaChoice::Auto, times);
    for (LinearSplit split : {LinearSplit::Column, LinearSplit::Row}) {
      // Blocks of x, W and y this rank holds (docs/design.md, the partition table).
      int x_c0 = 0, x_cols = in, w_r0 = 0, w_rows = in, w_c0 = 0, w_cols = out;
      if (f.two_d()) {
        x_c0 = c * in / q, x_cols = in / q;
        w_r0 = r * in / q, w_rows = in / q, w_c0 = c * out / q, w_cols = out / q;
      } else if (split == LinearSplit::Column) {
        w_c0 = c * out / q, w_cols = out / q;
      } else {
        x_c0 = c * in / q, x_cols = in / q, w_r0 = x_c0, w_rows = x_cols;
      }
      const int y_c0 = f.two_d() || split == LinearSplit::Column ? w_c0 : 0;
      const int y_cols = f.two_d() || split == LinearSplit::Column ? w_cols : out;
      Matrix y("y", T, y_cols);
      linear.matmul(block_of(X, kTokens, in, t0, T, x_c0, x_cols),
                    block_of(W, in, out, w_r0, w_rows, w_c0, w_cols), y, split);
      auto yh = Kokkos::create_mirror_view_and_copy(HostSpace(), y);
      double max_err = 0;
      for (int t = 0; t < T; ++t)
        for (int j = 0; j < y_cols; ++j) {
          double ref = 0;
          for (int k = 0; k < in; ++k)
            ref += static_cast<double>(X[(t0 + t) * in + k]) * W[k * out + y_c0 + j];
          max_err = std::max(max_err, std::abs(yh(t, j) - ref));
        }
      // fp32 dot products of 8 terms of size <= 4: a few ulps of 32.
      EXPECT_LE(max_err, 2e-5) << (split == LinearSplit::Row ? "row" : "column") << " split";
    }
    EXPECT_GT(times.gemm_flops, 0);
  }
}

}  // namespace
}  // namespace zoptimus

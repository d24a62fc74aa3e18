// The partitioned forward pass equals the plain serial reference (tests/support/reference_opt)
// on every mesh the rank count allows: 1 rank, 1D t=2/t=4, 2D 2x2/3x3, dp=2 x 2x2; and its
// communication volume equals the closed-form count.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <string>
#include <vector>

#include "io/synthetic_data.hpp"
#include "linalg/summa.hpp"
#include "model/transformer.hpp"
#include "support/reference_model.hpp"

namespace zoptimus {
namespace {

// A small model whose sizes divide by 2 and 3, with a vocabulary that does not (padding).
ModelConfig small_model(bool gelu) {
  ModelConfig m;
  m.vocab = 61;
  m.hidden = 24;
  m.heads = 12;  // divisible by q = 2, 3 and t = 2, 3, 4
  m.layers = 2;
  m.ffn = 48;
  m.max_positions = 16;
  m.activation = gelu ? Activation::Gelu : Activation::Relu;
  return m;
}

struct MeshCase {
  MeshShape shape;
  int global_batch;  // sequences over all replicas
};

// Runs one mesh case on the first shape.world_size() ranks. chunk: model.logits_chunk_tokens
// (the default 256 is more than every case's local tokens: one chunk).
// Leaves the LM loss in *lm_loss on the ranks of the case.
void check_mesh(const MeshCase& mc, bool gelu, SummaChoice summa, int chunk = 256,
                double* lm_loss = nullptr) {
  int world_rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  const int n = mc.shape.world_size();
  MPI_Comm sub;
  MPI_Comm_split(MPI_COMM_WORLD, world_rank < n ? 0 : MPI_UNDEFINED, world_rank, &sub);
  if (sub == MPI_COMM_NULL) return;
  const char* names[] = {"auto", "standard", "weight_stationary"};
  SCOPED_TRACE(mc.shape.describe() + (gelu ? " gelu" : " relu") + " summa " +
               names[static_cast<int>(summa)] + " logits chunk " + std::to_string(chunk));
  {
    ModelConfig mcfg = small_model(gelu);
    mcfg.logits_chunk_tokens = chunk;
    const reference::Dims rd = test_support::reference_dims(mcfg);
    const reference::Params ref_params = reference::make_params(rd, 99);
    DataConfig data;
    data.batch = mc.global_batch / mc.shape.dp;
    data.seq_len = 8;
    data.seed = 11;

    ASSERT_NO_THROW(validate_partition(mcfg, data.batch, mc.shape));
    Mesh mesh(sub, mc.shape);
    CommStats stats;
    Collectives comm(mesh, stats);
    Transformer model(ModelDims::from_config(mcfg), mesh, comm, data.batch, data.seq_len, summa);
    test_support::load_reference_params(model, ref_params);
    StoredWeights weights(model.params());
    Batch batch = synthetic_batch(data, mcfg.vocab, mesh.replica(), mc.shape.dp, 0);
    LossSums loss = model.lm_loss(batch, weights);  // forward + the chunked head and loss
    EXPECT_EQ(model.logits().size(), 0u) << "the loss must not form the whole logits block";
    model.compute_logits(weights);  // the whole block, from the same forward

    // Reference on the whole global batch (what dp replicas of `batch` see together).
    DataConfig global = data;
    global.batch = mc.global_batch;
    Batch all = synthetic_batch(global, mcfg.vocab, 0, 1, 0);
    const std::vector<double> ref_logits =
        reference::forward_logits(rd, ref_params, all.tokens, all.batch, all.seq);
    const auto ref_loss = reference::lm_loss(rd, ref_params, all.tokens, all.batch, all.seq, -1);

    // Compare this rank's logits block with the matching block of the reference.
    auto logits = Kokkos::create_mirror_view_and_copy(HostSpace(), model.logits());
    const int seq_offset = mesh.replica() * data.batch * data.seq_len;
    double max_err = 0, max_ref = 0;
    for (int t = 0; t < model.local_tokens(); ++t)
      for (int v = 0; v < model.valid_vocab(); ++v) {
        const int gt = seq_offset + model.token_offset() + t, gv = model.vocab_offset() + v;
        const double r = ref_logits[static_cast<std::size_t>(gt) * mcfg.vocab + gv];
        max_err = std::max(max_err, std::abs(logits(t, v) - r));
        max_ref = std::max(max_ref, std::abs(r));
      }
    // fp32 forward against a double reference: a few ulps per accumulation.
    EXPECT_LE(max_err, 1e-5 * max_ref) << "max |logit error| " << max_err << " of " << max_ref;
    const double ref_mean = ref_loss.first / ref_loss.second;
    EXPECT_EQ(loss.count, ref_loss.second);
    EXPECT_NEAR(loss.mean(), ref_mean, 1e-5 * ref_mean);
    if (lm_loss) *lm_loss = loss.mean();

    // Classification loss and accuracy against the reference too.
    data.task = global.task = Task::Classification;
    Batch cb = synthetic_batch(data, mcfg.vocab, mesh.replica(), mc.shape.dp, 3);
    Batch call = synthetic_batch(global, mcfg.vocab, 0, 1, 3);
    LossSums closs = model.classification_loss(cb, weights);
    const auto cref =
        reference::classification_loss(rd, ref_params, call.tokens, call.batch, call.seq,
                                       call.last_pos, call.label_words, call.labels);
    EXPECT_EQ(closs.count, mc.global_batch);
    EXPECT_NEAR(closs.mean(), cref.first / mc.global_batch, 1e-5 * cref.first / mc.global_batch);
    EXPECT_EQ(closs.correct, cref.second);
  }
  MPI_Comm_free(&sub);
}

std::vector<MeshCase> cases_for(int world) {
  auto two_d = [](int dp, int q, int gb) {
    MeshShape s;
    s.mode = MeshMode::TwoD;
    s.dp = dp;
    s.q = q;
    return MeshCase{s, gb};
  };
  auto one_d = [](int dp, int t, int gb) {
    MeshShape s;
    s.mode = MeshMode::OneD;
    s.dp = dp;
    s.t = t;
    return MeshCase{s, gb};
  };
  std::vector<MeshCase> all = {two_d(1, 1, 6), one_d(1, 2, 6),  two_d(1, 2, 6), one_d(1, 3, 6),
                               one_d(1, 4, 6), two_d(2, 2, 12), one_d(2, 2, 6), two_d(1, 3, 6)};
  std::vector<MeshCase> out;
  for (const auto& c : all)
    if (c.shape.world_size() == world) out.push_back(c);  // each count tests its own meshes
  return out;
}

TEST(Transformer, MatchesSerialReferenceOnEveryMesh) {
  int world;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const auto cases = cases_for(world);
  ASSERT_FALSE(cases.empty()) << "no mesh case for " << world << " ranks";
  for (const auto& c : cases) {
    double whole = std::nan("");
    for (SummaChoice s :
         {SummaChoice::Standard, SummaChoice::WeightStationary, SummaChoice::Auto}) {
      check_mesh(c, false, s, 256, &whole);
      if (s == SummaChoice::Auto) check_mesh(c, true, s);
    }
    // The LM head in chunks of 1 token and of 5 (divides no case's local tokens: 48, 24, 16,
    // 12): the same per-token math on the same logits as one chunk, so the loss agrees to
    // float rounding (a different GEMM blocking may change a logit's last bits).
    for (int chunk : {1, 5}) {
      double got = std::nan("");
      check_mesh(c, false, SummaChoice::Auto, chunk, &got);
      if (!std::isnan(whole)) EXPECT_NEAR(got, whole, 1e-6 * whole) << "chunk " << chunk;
    }
  }
}

}  // namespace
}  // namespace zoptimus

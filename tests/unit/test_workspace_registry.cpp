// WorkspaceRegistry: leases add and remove exactly their bytes, copies share one registration,
// peaks and totals follow; and the buffers of a model, its SUMMA panels and the ZO momentum
// are registered with the sizes their shapes give (closed forms from the tensor table).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <utility>

#include "core/workspace_registry.hpp"
#include "io/synthetic_data.hpp"
#include "linalg/summa.hpp"
#include "model/transformer.hpp"
#include "optim/zo_weights.hpp"

namespace zoptimus {
namespace {

using P = WorkspacePurpose;

WorkspaceRegistry& reg() {
  return WorkspaceRegistry::process();
}

TEST(WorkspaceRegistry, LeasesAddAndRemoveTheirBytes) {
  const std::int64_t other0 = reg().current(P::Other), total0 = reg().current_total();
  const std::int64_t host0 = reg().current(P::Other, MemoryPlace::Host);
  reg().reset_peaks();
  {
    WorkspaceLease a(P::Other);
    a.set(1000);
    a.add(24);
    EXPECT_EQ(a.bytes(), 1024);
    EXPECT_EQ(reg().current(P::Other), other0 + 1024);
    {
      WorkspaceLease copy = a;  // shares the registration, like a View copy
      copy.add(-24);
      EXPECT_EQ(a.bytes(), 1000);
      WorkspaceLease h(P::Other, MemoryPlace::Host);
      h.set(7);
      EXPECT_EQ(reg().current(P::Other, MemoryPlace::Host), host0 + 7);
      EXPECT_EQ(reg().current(P::Other), other0 + 1000);  // places are apart
    }
    EXPECT_EQ(reg().current(P::Other), other0 + 1000);  // the copy died, a lives on
    EXPECT_EQ(reg().current(P::Other, MemoryPlace::Host), host0);
    EXPECT_EQ(reg().current_total(), total0 + 1000);
    WorkspaceLease moved = std::move(a);
    EXPECT_EQ(moved.bytes(), 1000);
  }
  EXPECT_EQ(reg().current(P::Other), other0);
  EXPECT_EQ(reg().current_total(), total0);
  EXPECT_EQ(reg().peak(P::Other), other0 + 1024);
  EXPECT_EQ(reg().peak_total(), total0 + 1024);
  reg().reset_peaks();
  EXPECT_EQ(reg().peak(P::Other), other0);
  EXPECT_EQ(WorkspaceLease().bytes(), 0);
  EXPECT_STREQ(WorkspaceRegistry::name(P::SummaPanels), "summa_panels");
}

ModelConfig small_model() {
  ModelConfig m;
  m.vocab = 70;  // padded up by the partition
  m.hidden = 16;
  m.heads = 2;
  m.layers = 2;
  m.ffn = 48;
  m.max_positions = 16;
  return m;
}

// One rank: every buffer's size follows from the dimensions alone.
TEST(WorkspaceRegistry, ModelBuffersAreRegisteredWithTheirSizes) {
  const std::int64_t par0 = reg().current(P::Parameters), act0 = reg().current(P::Activations);
  const std::int64_t pan0 = reg().current(P::SummaPanels), zo0 = reg().current(P::ZoScratch);
  ModelConfig mc = small_model();
  mc.logits_chunk_tokens = 5;
  const int batch = 2, seq = 8;
  {
    Mesh mesh(MPI_COMM_SELF, MeshShape{});
    CommStats stats;
    Collectives coll(mesh, stats);
    Transformer model(ModelDims::from_config(mc), mesh, coll, batch, seq);

    std::int64_t params = 0;
    for (const TensorInfo& t : model.params().tensors())
      params += t.local_rows() * t.local_cols() * std::int64_t(sizeof(float));
    EXPECT_EQ(reg().current(P::Parameters) - par0, params);
    EXPECT_EQ(model.params().local_bytes(), params);

    const std::int64_t T = batch * seq, h = mc.hidden, f = sizeof(float);
    const std::int64_t V = model.params().info("embed_tokens").local_rows();
    const std::int64_t shared = T * h * f + T * 2 * sizeof(double) + T * sizeof(int);
    const std::int64_t stream =
        4 * T * h * f + T * 3 * h * f + T * h * f + T * mc.ffn * f + T * sizeof(int) + 4 * T * f;
    EXPECT_EQ(reg().current(P::Activations) - act0, shared + stream);
    EXPECT_EQ(model.activation_bytes(), shared + stream);
    // The first LM loss adds the logits chunk [5 tokens, V], never the whole [T, V] block.
    {
      StoredWeights sw(model.params());
      DataConfig data;
      data.batch = batch;
      data.seq_len = seq;
      model.lm_loss(synthetic_batch(data, mc.vocab, 0, 1, 0), sw);
    }
    const std::int64_t chunk = 5 * V * f;
    EXPECT_EQ(reg().current(P::Activations) - act0, shared + stream + chunk);
    EXPECT_EQ(model.activation_bytes(), shared + stream + chunk);

    // With momentum, the velocity is ZO scratch of the parameters' size.
    ZoWeights weights(model.params(), 1e-3, 0.0, 0.9, std::vector<float>{}, Perturbation::Gaussian);
    EXPECT_EQ(reg().current(P::ZoScratch) - zo0, params);
  }
  EXPECT_EQ(reg().current(P::Parameters), par0);
  EXPECT_EQ(reg().current(P::Activations), act0);
  EXPECT_EQ(reg().current(P::ZoScratch), zo0);

  {
    SummaWorkspace ws;
    ws.get(SummaWorkspace::kPanelA0, 3, 5);
    ws.get(SummaWorkspace::kPanelB1, 2, 2);
    ws.get(SummaWorkspace::kPanelA0, 1, 1);  // fits: no new allocation
    EXPECT_EQ(reg().current(P::SummaPanels) - pan0, (15 + 4) * std::int64_t(sizeof(float)));
    EXPECT_EQ(static_cast<std::int64_t>(ws.bytes()), reg().current(P::SummaPanels) - pan0);
    ws.release();
    EXPECT_EQ(reg().current(P::SummaPanels), pan0);
  }
}

}  // namespace
}  // namespace zoptimus

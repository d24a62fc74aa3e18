// ZoWeights: the weight source of a ZO step (docs/design.md). For each tensor the forward asks
// for, one pass over the local block
//   1. applies the deferred update of the previous step, if still pending for this tensor:
//        d = (1/n) sum_p g_p m z_p + lambda theta ;  (v = mu v + d) ;  theta -= lr d (or lr v)
//      regenerating z_p from its seed (never stored),
//   2. generates z of the current perturbation once and writes W + eps m z and W - eps m z
//      into scratch buffers (theta itself is never perturbed in place),
// with m = |theta| <= h_k (Sparse-MeZO; h_k = +inf otherwise) evaluated on the unperturbed
// theta. Tensors that are inactive in this step (LeZO) get no RNG work: the stored block
// serves both streams. The pass itself is in zo_fused_pass.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/choices.hpp"
#include "core/workspace_registry.hpp"
#include "model/weight_source.hpp"

namespace zoptimus {

struct ZoUpdate {
  std::vector<std::uint64_t> seeds;  // one per direction (perturbation) to apply
  std::vector<double> coeffs;        // g_p / n for a plain step; Anderson's mixing coefficients
  std::vector<char> active;          // per tensor id: was it perturbed in that step
  // Optional, per seed and tensor id: directions from different steps (Anderson + LeZO) live
  // on different layer subsets. Overrides `active` when given.
  std::vector<std::vector<char>> seed_active;
  double lr = 0;
};

class ZoWeights : public WeightSource {
 public:
  // thresholds: per tensor id (Sparse-MeZO), or empty for dense. momentum > 0 allocates one
  // parameter-sized buffer (ZO-SGD with momentum); 0 keeps inference-level memory.
  // dist: the distribution of every direction (optim.perturbation).
  ZoWeights(ParameterStore& params, double eps, double weight_decay, double momentum,
            std::vector<float> thresholds, Perturbation dist);

  int streams() const override { return 2; }
  BlockPair blocks(int id) override;
  BlockPair pass_blocks(int id) override;
  void begin_pass() override;
  bool updates(int id) const override { return changes(id); }

  // Perturbation for the next forward pass: seed and which tensors move (LeZO).
  void set_perturbation(std::uint64_t seed, std::vector<char> active);
  // The update of the step just measured; applied lazily during the next pass, or by flush().
  void defer_update(ZoUpdate update);
  // Applies whatever is still pending to every tensor (before evaluation, checkpoints, the
  // end of the run). No perturbation is generated.
  void flush();
  bool update_pending() const { return has_pending_ && !all_applied(); }
  // Per tensor: is the pending update still to be applied to it; apply it (no perturbation).
  // flush() is apply_pending on every tensor; offloading applies it layer by layer.
  bool pending(int id) const { return has_pending_ && !applied_[id]; }
  // Pending and not a no-op: some direction of the pending update touched tensor id (LeZO
  // and Anderson + LeZO leave tensors out).
  bool changes(int id) const;
  void apply_pending(int id) {
    if (pending(id)) process(id, true, false, Matrix(), Matrix());
  }

  // Work done, for benchmarks and tests: elements that received RNG work.
  std::int64_t rng_elements() const { return rng_elements_; }
  double generate_seconds() const { return generate_seconds_; }
  const std::vector<float>& thresholds() const { return thresholds_; }
  void set_thresholds(std::vector<float> thresholds) { thresholds_ = std::move(thresholds); }
  // The momentum buffer, for checkpoints (nullptr without momentum).
  ParameterStore* velocity() { return momentum_ > 0 ? &velocity_ : nullptr; }

 private:
  // One fused pass over tensor id: pending update (if any) and/or perturbation into out[2].
  void process(int id, bool update, bool perturb, Matrix plus, Matrix minus);
  Matrix scratch(int slot, int stream, const TensorInfo& t);
  bool all_applied() const;

  ParameterStore& params_;
  double eps_, weight_decay_, momentum_;
  Perturbation distribution_;
  std::vector<float> thresholds_;
  ParameterStore velocity_{
      WorkspacePurpose::ZoScratch};  // momentum buffer (same tensor table), empty without momentum

  std::uint64_t seed_ = 0;
  std::vector<char> active_;
  ZoUpdate pending_;
  bool has_pending_ = false;
  std::vector<char> applied_;  // per tensor: pending update already applied
  Kokkos::View<std::uint64_t*, MemSpace> pending_seeds_;
  Kokkos::View<double*, MemSpace> pending_coeffs_;
  Kokkos::View<double*, MemSpace> tensor_coeffs_;  // pending_coeffs_ masked per seed_active

  Vector buffers_[2][kMaxStreams];  // two slots (weight + bias) per stream
  // Blocks used more than once per pass (the tied embedding: lookup and head) are generated
  // once into their own buffers.
  struct PassBlock {
    Matrix plus, minus;
    BlockPair pair;
    bool valid = false;
  };
  std::map<int, PassBlock> pass_cache_;
  WorkspaceLease scratch_lease_{WorkspacePurpose::ZoScratch};  // buffers_ and pass_cache_
  int next_slot_ = 0;
  std::int64_t rng_elements_ = 0;
  double generate_seconds_ = 0;
};

}  // namespace zoptimus

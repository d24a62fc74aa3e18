// The fused update + perturbation pass (see zo_weights.hpp).
#include "optim/zo_weights.hpp"

#include <limits>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "optim/zo_fused_pass.hpp"

namespace zoptimus {

ZoWeights::ZoWeights(ParameterStore& params, double eps, double weight_decay, double momentum,
                     std::vector<float> thresholds, Perturbation dist)
    : params_(params),
      eps_(eps),
      weight_decay_(weight_decay),
      momentum_(momentum),
      distribution_(dist),
      thresholds_(std::move(thresholds)) {
  const std::size_t n = params.size();
  if (thresholds_.empty()) thresholds_.assign(n, std::numeric_limits<float>::infinity());
  ZOPTIMUS_ASSERT(thresholds_.size() == n);
  if (momentum_ > 0)
    for (const auto& t : params.tensors()) velocity_.add(t);  // zero-initialised
  active_.assign(n, 1);
  applied_.assign(n, 1);
}

void ZoWeights::set_perturbation(std::uint64_t seed, std::vector<char> active) {
  seed_ = seed;
  active_ = active.empty() ? std::vector<char>(params_.size(), 1) : std::move(active);
}

bool ZoWeights::all_applied() const {
  for (char a : applied_)
    if (!a) return false;
  return true;
}

void ZoWeights::defer_update(ZoUpdate update) {
  if (has_pending_ && !all_applied())
    fail("internal error: a ZO update is deferred while another is pending");
  pending_ = std::move(update);
  if (pending_.active.empty()) pending_.active.assign(params_.size(), 1);
  if (!pending_.seed_active.empty() && pending_.seed_active.size() != pending_.seeds.size())
    fail("internal error: {} per-seed activity sets for {} seeds", pending_.seed_active.size(),
         pending_.seeds.size());
  const int n = static_cast<int>(pending_.seeds.size());
  pending_seeds_ = Kokkos::View<std::uint64_t*, MemSpace>("zoptimus::pending_seeds", n);
  pending_coeffs_ = Kokkos::View<double*, MemSpace>("zoptimus::pending_coeffs", n);
  auto hs = Kokkos::create_mirror_view(pending_seeds_);
  auto hc = Kokkos::create_mirror_view(pending_coeffs_);
  for (int p = 0; p < n; ++p) hs(p) = pending_.seeds[p], hc(p) = pending_.coeffs[p];
  Kokkos::deep_copy(pending_seeds_, hs);
  Kokkos::deep_copy(pending_coeffs_, hc);
  has_pending_ = true;
  applied_.assign(params_.size(), 0);
}

bool ZoWeights::changes(int id) const {
  if (!pending(id)) return false;
  if (pending_.seed_active.empty()) return pending_.active[id] != 0;
  for (std::size_t p = 0; p < pending_.seeds.size(); ++p)
    if (pending_.seed_active[p][id] && pending_.coeffs[p] != 0.0) return true;
  return false;
}

void ZoWeights::begin_pass() {
  next_slot_ = 0;
  for (auto& [id, c] : pass_cache_) c.valid = false;
  // Every tensor is visited by a forward pass, so one pass consumes a pending update.
  if (has_pending_ && all_applied()) has_pending_ = false;
}

void ZoWeights::flush() {
  if (!has_pending_) return;
  for (const auto& t : params_.tensors()) apply_pending(t.id);
  has_pending_ = false;
  Kokkos::fence();
}

Matrix ZoWeights::scratch(int slot, int stream, const TensorInfo& t) {
  Vector& buf = buffers_[slot][stream];
  const std::size_t n = static_cast<std::size_t>(t.local_rows() * t.local_cols());
  if (buf.extent(0) < n) {
    scratch_lease_.add(static_cast<std::int64_t>((n - buf.extent(0)) * sizeof(float)));
    buf = Vector(Kokkos::view_alloc(Kokkos::WithoutInitializing, "zoptimus::zo_scratch"), n);
  }
  return Matrix(buf.data(), t.local_rows(), t.local_cols());
}

BlockPair ZoWeights::pass_blocks(int id) {
  if (!active_[id]) return blocks(id);
  auto it = pass_cache_.find(id);
  if (it != pass_cache_.end() && it->second.valid) return it->second.pair;
  PassBlock& c = pass_cache_[id];
  const TensorInfo& t = params_.tensors()[id];
  if (c.plus.extent(0) != static_cast<std::size_t>(t.local_rows()) ||
      c.plus.extent(1) != static_cast<std::size_t>(t.local_cols())) {
    scratch_lease_.add(
        2 * (t.local_rows() * t.local_cols() - static_cast<std::int64_t>(c.plus.size())) *
        static_cast<std::int64_t>(sizeof(float)));
    c.plus = Matrix("zoptimus::zo_pass_plus", t.local_rows(), t.local_cols());
    c.minus = Matrix("zoptimus::zo_pass_minus", t.local_rows(), t.local_cols());
  }
  process(id, has_pending_ && !applied_[id], true, c.plus, c.minus);
  c.pair = {c.plus, c.minus};
  c.valid = true;
  return c.pair;
}

BlockPair ZoWeights::blocks(int id) {
  const TensorInfo& t = params_.tensors()[id];
  const bool update = has_pending_ && !applied_[id];
  const bool perturb = active_[id] != 0;
  if (!perturb) {
    if (update) process(id, true, false, Matrix(), Matrix());
    Matrix w = params_.data(id);
    return {w, w};
  }
  const int slot = next_slot_;
  next_slot_ = 1 - next_slot_;
  Matrix plus = scratch(slot, 0, t), minus = scratch(slot, 1, t);
  process(id, update, true, plus, minus);
  return {plus, minus};
}

void ZoWeights::process(int id, bool update, bool perturb, Matrix plus, Matrix minus) {
  PhaseTimer timer(phase::kRng);
  const TensorInfo& t = params_.tensors()[id];
  Matrix theta = params_.data(id);
  Matrix vel = momentum_ > 0 ? velocity_.data(id) : Matrix();
  const std::int64_t r0 = t.row_offset(), c0 = t.col_offset(), gcols = t.cols;
  const int vr = static_cast<int>(t.valid_rows()), vc = static_cast<int>(t.valid_cols());
  const std::uint64_t stream = static_cast<std::uint64_t>(id);
  const float h = thresholds_[id];
  bool do_update = update && pending_.active[id];
  auto coeffs = pending_coeffs_;
  if (update && !pending_.seed_active.empty()) {
    // Directions that did not touch this tensor contribute nothing (and cost no RNG: their
    // coefficient is zero, and the kernel skips zero coefficients).
    const int ns = static_cast<int>(pending_.seeds.size());
    if (tensor_coeffs_.extent(0) < static_cast<std::size_t>(ns))
      tensor_coeffs_ = Kokkos::View<double*, MemSpace>("zoptimus::tensor_coeffs", ns);
    auto host = Kokkos::create_mirror_view(tensor_coeffs_);
    do_update = false;
    for (int p = 0; p < ns; ++p) {
      host(p) = pending_.seed_active[p][id] ? pending_.coeffs[p] : 0.0;
      do_update = do_update || host(p) != 0.0;
    }
    Kokkos::deep_copy(tensor_coeffs_, host);
    coeffs = tensor_coeffs_;
  }
  const int n = do_update ? static_cast<int>(pending_.seeds.size()) : 0;
  if (n == 0 && !perturb) {  // e.g. a LeZO-inactive tensor whose last update missed it
    if (update) applied_[id] = 1;
    return;
  }
  FusedPass pass;
  pass.theta = theta;
  pass.velocity = vel;
  pass.plus = plus;
  pass.minus = minus;
  pass.seeds = pending_seeds_;
  pass.coeffs = coeffs;
  pass.directions = n;
  pass.perturb = perturb;
  pass.seed = seed_;
  pass.stream = stream;
  pass.row_offset = r0;
  pass.col_offset = c0;
  pass.global_cols = gcols;
  pass.valid_rows = vr;
  pass.valid_cols = vc;
  pass.lr = pending_.lr;
  pass.lambda = t.weight_decay ? weight_decay_ : 0.0;
  pass.mu = momentum_;
  pass.eps = static_cast<float>(eps_);
  pass.threshold = h;
  pass.distribution = distribution_;
  run_fused_pass(pass);
  if (update) applied_[id] = 1;
  const std::int64_t elems = static_cast<std::int64_t>(vr) * vc;
  rng_elements_ += elems * ((do_update ? n : 0) + (perturb ? 1 : 0));
  generate_seconds_ += timer.seconds();
}

}  // namespace zoptimus

// The fused update + perturbation pass (see zo_weights.hpp).
#include "optim/zo_weights.hpp"

#include <limits>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "kernels/philox_normal.hpp"

namespace zoptimus {

ZoWeights::ZoWeights(ParameterStore& params, double eps, double weight_decay, double momentum,
                     std::vector<float> thresholds)
    : params_(params),
      eps_(eps),
      weight_decay_(weight_decay),
      momentum_(momentum),
      thresholds_(std::move(thresholds)) {
  const std::size_t n = params.size();
  if (thresholds_.empty()) thresholds_.assign(n, std::numeric_limits<float>::infinity());
  ZOPTIMUS_ASSERT(thresholds_.size() == n);
  if (momentum_ > 0)
    for (const auto& t : params.tensors())
      velocity_.emplace_back("zoptimus::momentum::" + t.name, t.local_rows(), t.local_cols());
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

void ZoWeights::begin_pass() {
  next_slot_ = 0;
  // Every tensor is visited by a forward pass, so one pass consumes a pending update.
  if (has_pending_ && all_applied()) has_pending_ = false;
}

void ZoWeights::flush() {
  if (!has_pending_) return;
  for (const auto& t : params_.tensors())
    if (!applied_[t.id]) process(t.id, true, false, Matrix(), Matrix());
  has_pending_ = false;
  Kokkos::fence();
}

Matrix ZoWeights::scratch(int slot, int stream, const TensorInfo& t) {
  Vector& buf = buffers_[slot][stream];
  const std::size_t n = static_cast<std::size_t>(t.local_rows() * t.local_cols());
  if (buf.extent(0) < n)
    buf = Vector(Kokkos::view_alloc(Kokkos::WithoutInitializing, "zoptimus::zo_scratch"), n);
  return Matrix(buf.data(), t.local_rows(), t.local_cols());
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
  Timer timer;
  const TensorInfo& t = params_.tensors()[id];
  Matrix theta = params_.data(id);
  Matrix vel = momentum_ > 0 ? velocity_[id] : Matrix();
  const bool use_momentum = momentum_ > 0;
  const std::int64_t r0 = t.row_offset(), c0 = t.col_offset(), gcols = t.cols;
  const int vr = static_cast<int>(t.valid_rows()), vc = static_cast<int>(t.valid_cols());
  const std::uint64_t stream = static_cast<std::uint64_t>(id);
  const float h = thresholds_[id];
  const bool do_update = update && pending_.active[id];
  const int n = do_update ? static_cast<int>(pending_.seeds.size()) : 0;
  const auto seeds = pending_seeds_;
  const auto coeffs = pending_coeffs_;
  const double lr = pending_.lr;
  const double lambda = t.weight_decay ? weight_decay_ : 0.0;
  const double mu = momentum_;
  const std::uint64_t seed = seed_;
  const float eps = static_cast<float>(eps_);
  Kokkos::parallel_for(
      "zoptimus::zo_update_perturb",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {theta.extent(0), theta.extent(1)}),
      KOKKOS_LAMBDA(const int i, const int j) {
        float th = theta(i, j);
        const bool valid = i < vr && j < vc;  // padding stays zero and never moves
        const std::uint64_t g = static_cast<std::uint64_t>(r0 + i) * gcols + (c0 + j);
        if (valid && n > 0) {
          double d = lambda * th;
          if (th <= h && -th <= h)
            for (int p = 0; p < n; ++p) d += coeffs(p) * philox_normal(seeds(p), stream, g);
          if (use_momentum) {
            d = mu * vel(i, j) + d;
            vel(i, j) = static_cast<float>(d);
          }
          th = static_cast<float>(th - lr * d);
          theta(i, j) = th;
        }
        if (perturb) {
          const float z = (valid && th <= h && -th <= h) ? philox_normal(seed, stream, g) : 0.0f;
          plus(i, j) = th + eps * z;
          minus(i, j) = th - eps * z;
        }
      });
  if (update) applied_[id] = 1;
  const std::int64_t elems = static_cast<std::int64_t>(vr) * vc;
  rng_elements_ += elems * ((do_update ? n : 0) + (perturb ? 1 : 0));
  generate_seconds_ += timer.seconds();
}

}  // namespace zoptimus

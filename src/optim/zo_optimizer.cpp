// One ZO step (see zo_optimizer.hpp).
#include "optim/zo_optimizer.hpp"

#include <cmath>

#include "core/error.hpp"
#include "optim/lr_schedule.hpp"
#include "optim/sparse_threshold.hpp"
#include "optim/step_seeds.hpp"

namespace zoptimus {

ZoOptimizer::ZoOptimizer(const OptimConfig& optim, const RunConfig& run, ParameterStore& params,
                         int layers, Collectives& comm, OffloadPipeline* offload)
    : optim_(optim), run_(run), params_(params), layers_(layers), comm_(comm), offload_(offload) {
  const OptimConfig& o = optim_;
  weights_ = std::make_unique<ZoWeights>(params_, o.eps, o.weight_decay, o.momentum,
                                         std::vector<float>{}, o.perturbation);
  if (offload_) offloaded_ = std::make_unique<OffloadedWeights>(*weights_, *offload_, params_);
  thresholds_ready_ = o.method != ZoMethod::SparseMezo;
  if (o.anderson.m > 0 || o.anderson.beta != 1.0)
    anderson_ =
        std::make_unique<AndersonMixer>(o.anderson, o.n_perturb, o.perturbation, params_, comm_);
}

void ZoOptimizer::flush() {
  if (offload_ && weights_->update_pending()) {
    // Only the layers the pending update still touches travel (LeZO leaves some out).
    std::vector<int> layers;
    std::vector<char> write_back(offload_->layers(), 0);
    for (int l = 0; l < offload_->layers(); ++l)
      for (int id : offload_->tensors_of(l))
        if (weights_->changes(id)) {
          layers.push_back(l);
          write_back[l] = 1;
          break;
        }
    if (!layers.empty()) {
      offload_->begin(std::move(write_back), layers);
      for (int l : layers) {
        offload_->enter(l);
        for (int id : offload_->tensors_of(l)) weights_->apply_pending(id);
      }
      offload_->end();
    }
  }
  weights_->flush();  // the device-resident tensors; clears the pending state
}

void ZoOptimizer::ensure_thresholds() {
  // From the weights the run starts from (initialised, imported or restored), once.
  if (thresholds_ready_) return;
  weights_->set_thresholds(sparse_thresholds(params_, optim_.sparsity, comm_));
  thresholds_ready_ = true;
}

std::vector<char> ZoOptimizer::active_tensors(const std::vector<int>& layers) const {
  const auto& tensors = params_.tensors();
  std::vector<char> active(tensors.size(), 0);
  std::vector<char> layer_on(layers_, 0);
  for (int l : layers) layer_on[l] = 1;
  // Embeddings and the final norm (and with them the tied head) are always perturbed.
  for (const auto& t : tensors) active[t.id] = t.layer < 0 || layer_on[t.layer];
  return active;
}

StepRecord ZoOptimizer::step(std::int64_t t, const Batch& batch, Objective& objective) {
  ensure_thresholds();
  const int refresh = optim_.sparse_refresh;
  if (optim_.method == ZoMethod::SparseMezo && refresh > 0 && t > 0 && t % refresh == 0) {
    // Thresholds from the current weights: entries that grew past the old threshold would
    // otherwise stay frozen (matters when training from scratch).
    flush();
    weights_->set_thresholds(sparse_thresholds(params_, optim_.sparsity, comm_));
    if (anderson_) anderson_->masks_changed();
  }
  const OptimConfig& o = optim_;
  StepRecord r;
  r.step = t;
  r.lr = scheduled_lr(o.schedule, o.lr, o.warmup_steps, run_.steps, t);
  std::vector<char> active;
  if (o.method == ZoMethod::Lezo) {
    const std::uint64_t s = perturbation_seed(static_cast<std::uint64_t>(run_.seed), t, -1);
    r.active_layers =
        choose_active_layers(s, layers_, active_layer_count(o.active_layers, layers_));
    active = active_tensors(r.active_layers);
  }
  ZoUpdate update;
  update.active = active;
  update.lr = r.lr;
  // Perturbation parallelism (parallel.pp): this rank evaluates directions [p0, p0 + n/pp) on
  // the batch its pp group shares, and the group sums the 2n losses. Every other slot holds
  // 0, so each sum is exactly one rank's loss: the trajectory is that of one rank doing all n.
  const int pp = comm_.size(Axis::Pp), per_rank = o.n_perturb / pp;
  const int p0 = comm_.rank(Axis::Pp) * per_rank;
  std::vector<double> losses(2 * static_cast<std::size_t>(o.n_perturb), 0.0);
  for (int p = p0; p < p0 + per_rank; ++p) {
    const std::uint64_t seed = perturbation_seed(static_cast<std::uint64_t>(run_.seed), t, p);
    weights_->set_perturbation(seed, active);
    WeightSource& source = offloaded_ ? static_cast<WeightSource&>(*offloaded_) : *weights_;
    const std::vector<LossSums> l = objective.losses({&batch, &batch}, source);
    if (offloaded_) offloaded_->finish();
    losses[2 * p] = l[0].mean();
    losses[2 * p + 1] = l[1].mean();
    r.tokens = l[0].count;
  }
  if (pp > 1) comm_.allreduce_sum(Axis::Pp, losses.data(), losses.size());
  for (int p = 0; p < o.n_perturb; ++p) {
    const std::uint64_t seed = perturbation_seed(static_cast<std::uint64_t>(run_.seed), t, p);
    const double plus = losses[2 * p], minus = losses[2 * p + 1];
    const double g = (plus - minus) / (2.0 * o.eps);
    r.seeds.push_back(seed);
    r.loss_plus.push_back(plus);
    r.loss_minus.push_back(minus);
    r.projected_grad.push_back(g);
    if (!std::isfinite(plus) || !std::isfinite(minus)) r.skipped = true;
    update.seeds.push_back(seed);
    update.coeffs.push_back(g / o.n_perturb);
  }
  r.seed = r.seeds.front();
  if (r.skipped) return r;
  if (anderson_) {
    update = anderson_->next(t, r.seeds, r.projected_grad, r.lr, r.loss(), active,
                             weights_->thresholds());
    r.anderson_coeffs = anderson_->logged();
  }
  weights_->defer_update(std::move(update));
  return r;
}

}  // namespace zoptimus

namespace zoptimus {

StateDict ZoOptimizer::state(std::int64_t completed_steps) {
  ensure_thresholds();
  StateDict st;
  st.step = completed_steps;
  st.text["method"] = std::string(choice_name(optim_.method));
  st.text["perturbation"] = std::string(choice_name(optim_.perturbation));
  if (optim_.method == ZoMethod::SparseMezo) {
    const auto& h = weights_->thresholds();
    st.reals["sparse_thresholds"] = std::vector<double>(h.begin(), h.end());
  }
  if (anderson_) anderson_->save(st.reals, st.integers);
  return st;
}

NamedStores ZoOptimizer::extra_stores() {
  NamedStores out;
  if (ParameterStore* v = weights_->velocity()) out.emplace_back("momentum", v);
  return out;
}

NamedStoresIn ZoOptimizer::extra_stores_in() {
  NamedStoresIn out;
  if (ParameterStore* v = weights_->velocity()) out.emplace_back("momentum", v);
  return out;
}

void ZoOptimizer::restore(const StateDict& st) {
  if (anderson_) {
    anderson_->load(st.reals, st.integers);
    // Checkpoints from before optim.perturbation existed were Gaussian.
    const auto dist = st.text.find("perturbation");
    const std::string saved = dist != st.text.end() ? dist->second : "gaussian";
    if (saved != choice_name(optim_.perturbation)) anderson_->distribution_changed();
  }
  auto it = st.reals.find("sparse_thresholds");
  if (optim_.method == ZoMethod::SparseMezo && it != st.reals.end()) {
    if (it->second.size() != params_.size())
      fail("checkpoint holds {} Sparse-MeZO thresholds, the model has {} tensors",
           it->second.size(), params_.size());
    weights_->set_thresholds(std::vector<float>(it->second.begin(), it->second.end()));
    thresholds_ready_ = true;
  }
}

}  // namespace zoptimus

// The offload schedule (see offload_pipeline.hpp).
#include "model/offload/offload_pipeline.hpp"

#include <algorithm>

#include "core/device_context.hpp"
#include "core/error.hpp"

namespace zoptimus {

namespace {

std::vector<std::vector<int>> layer_tensors(const ParameterStore& params) {
  std::vector<std::vector<int>> ids;
  for (const auto& t : params.tensors()) {
    if (t.layer < 0) continue;
    if (!params.on_host(t.id))
      fail("internal error: offloading needs the decoder layers in host memory ('{}' is not)",
           t.name);
    if (static_cast<int>(ids.size()) <= t.layer) ids.resize(t.layer + 1);
    ids[t.layer].push_back(t.id);
  }
  if (ids.empty()) fail("internal error: offloading a model without decoder layers");
  return ids;
}

// Every layer of a rank has the same local blocks (the partition does not depend on the layer).
std::vector<BlockShape> layer_shapes(const ParameterStore& params,
                                     const std::vector<std::vector<int>>& ids) {
  std::vector<BlockShape> shapes;
  for (int id : ids[0])
    shapes.emplace_back(params.tensors()[id].local_rows(), params.tensors()[id].local_cols());
  for (const auto& layer : ids) {
    bool same = layer.size() == shapes.size();
    for (std::size_t k = 0; same && k < layer.size(); ++k)
      same = shapes[k] == BlockShape(params.tensors()[layer[k]].local_rows(),
                                     params.tensors()[layer[k]].local_cols());
    if (!same) fail("internal error: offloading needs decoder layers of one shape");
  }
  return shapes;
}

ExecSpace copy_instance() {
  return DeviceContext::exists() ? DeviceContext::current().copy() : ExecSpace();
}
ExecSpace compute_instance() {
  return DeviceContext::exists() ? DeviceContext::current().compute() : ExecSpace();
}

}  // namespace

OffloadPipeline::OffloadPipeline(ParameterStore& params, std::int64_t cap)
    : params_(params),
      layer_ids_(layer_tensors(params)),
      ring_(layer_shapes(params, layer_ids_),
            ring_slots(cap, BlockRing::slot_bytes(layer_shapes(params, layer_ids_)),
                       static_cast<int>(layer_ids_.size()))) {
  for (int id : layer_ids_[0]) layer_bytes_ += WorkspaceLease::bytes_of(params.host_master(id));
  uploads_per_layer_.assign(layer_ids_.size(), 0);
  writebacks_per_layer_.assign(layer_ids_.size(), 0);
}

void OffloadPipeline::begin(std::vector<char> write_back, std::vector<int> schedule) {
  if (open_) fail("internal error: an offload pass begins while another is open");
  if (static_cast<int>(write_back.size()) != layers())
    fail("internal error: offload write-back flags for {} layers, the model has {}",
         write_back.size(), layers());
  if (schedule.empty())
    for (int l = 0; l < layers(); ++l) schedule.push_back(l);
  schedule_ = std::move(schedule);
  write_back_ = write_back;
  open_ = true;
  pos_ = -1;
  uploaded_ = 0;
  const int first = std::min<int>(ring_.slots() - 1, static_cast<int>(schedule_.size()));
  while (uploaded_ < first) upload(uploaded_++);
}

void OffloadPipeline::enter(int layer) {
  const int pos = pos_ + 1;
  if (!open_ || pos >= static_cast<int>(schedule_.size()) || schedule_[pos] != layer)
    fail("internal error: the forward entered layer {} out of the offload schedule", layer);
  copy_instance().fence();
  if (pos_ >= 0) {
    compute_instance().fence();
    release(pos_);
  }
  pos_ = pos;
  const int last = std::min<int>(pos + ring_.slots() - 2, static_cast<int>(schedule_.size()) - 1);
  while (uploaded_ <= last) upload(uploaded_++);
  const std::vector<int>& ids = layer_ids_[layer];
  for (std::size_t k = 0; k < ids.size(); ++k)
    params_.rebind(ids[k], ring_.view(slot_of(pos), static_cast<int>(k)));
}

void OffloadPipeline::end() {
  if (!open_) return;
  if (pos_ >= 0) {
    compute_instance().fence();
    release(pos_);
  }
  // The copy instance is in order: this waits for the prefetches and the last writeback.
  copy_instance().fence();
  for (const auto& ids : layer_ids_)
    for (int id : ids) params_.restore_binding(id);
  open_ = false;
  pos_ = -1;
}

void OffloadPipeline::upload(int pos) {
  const int layer = schedule_[pos];
  const std::vector<int>& ids = layer_ids_[layer];
  const ExecSpace copy = copy_instance();
  for (std::size_t k = 0; k < ids.size(); ++k)
    Kokkos::deep_copy(copy, ring_.view(slot_of(pos), static_cast<int>(k)),
                      params_.host_master(ids[k]));
  ++counters_.uploads;
  counters_.upload_bytes += layer_bytes_;
  ++uploads_per_layer_[layer];
}

void OffloadPipeline::release(int pos) {
  const int layer = schedule_[pos];
  const std::vector<int>& ids = layer_ids_[layer];
  for (int id : ids) params_.restore_binding(id);
  if (!write_back_[layer]) return;
  const ExecSpace copy = copy_instance();
  for (std::size_t k = 0; k < ids.size(); ++k)
    Kokkos::deep_copy(copy, params_.host_master(ids[k]),
                      ring_.view(slot_of(pos), static_cast<int>(k)));
  ++counters_.writebacks;
  counters_.writeback_bytes += layer_bytes_;
  ++writebacks_per_layer_[layer];
}

}  // namespace zoptimus

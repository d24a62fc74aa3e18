// OffloadPipeline: the ZO2-style schedule of optim.offload (docs/design.md, "Offloading").
// The decoder layers' parameters live in host masters (ParameterStore, HostBlocks); a pass
// over the layers streams them through a ring of K >= 3 device slots (BlockRing):
//
//   begin:     upload positions 0 .. K-2 of the pass's schedule (on the copy instance)
//   enter(p):  fence the copy instance (the upload of p, the writeback of p-2 are complete)
//              fence the compute instance (the work on p-1 is done)
//              write back p-1 (when the pass changes weights) on the copy instance
//              upload up to position p+K-2 on the copy instance (prefetch depth K-2)
//              bind p's tensors to its slot (ParameterStore::rebind); compute then runs on it
//   end:       as enter for the last position, then fence the copy instance
//
// Slot of position p is p mod K. The upload into the slot of p+K-2 (that of p-2) is issued
// after the writeback of p-2 completed (the copy fence of enter(p)) and after p-2's compute
// (the compute fence of enter(p-1)), so no slot is overwritten while read or before it is
// saved; the copy instance is in order, so a writeback and a later upload of one slot never
// race. On host builds the copy and compute instances are the same and the copies are
// host-to-host, through the same code.
#pragma once

#include <cstdint>
#include <vector>

#include "model/offload/block_ring.hpp"
#include "model/parameter_store.hpp"

namespace zoptimus {

struct OffloadCounters {
  std::int64_t uploads = 0, writebacks = 0;  // layer copies
  std::int64_t upload_bytes = 0, writeback_bytes = 0;
};

class OffloadPipeline {
 public:
  // params: a store with ParameterPlacement::HostBlocks. cap: optim.offload_device_bytes
  // (0: the minimum ring); a cap below the minimum throws zoptimus::Error (ring_slots).
  OffloadPipeline(ParameterStore& params, std::int64_t cap);

  int layers() const { return static_cast<int>(layer_ids_.size()); }
  const std::vector<int>& tensors_of(int layer) const { return layer_ids_.at(layer); }
  // One layer's local blocks in bytes (what each upload and writeback moves).
  std::int64_t layer_bytes() const { return layer_bytes_; }

  // A pass over `schedule` (increasing layers; empty: every layer). write_back, per layer:
  // the pass changes its blocks (a pending update is applied on the device), so it is copied
  // back to its host master after use.
  void begin(std::vector<char> write_back, std::vector<int> schedule = {});
  // Makes `layer` (the next of the schedule) resident and binds its tensors to its slot.
  void enter(int layer);
  // Writes back the last layer, waits for every copy and binds every tensor to its master.
  void end();
  bool open() const { return open_; }
  int current_layer() const { return pos_ >= 0 ? schedule_[pos_] : -1; }

  const OffloadCounters& counters() const { return counters_; }
  // Per layer, since construction: how often it was uploaded and written back (tests).
  const std::vector<std::int64_t>& uploads_per_layer() const { return uploads_per_layer_; }
  const std::vector<std::int64_t>& writebacks_per_layer() const { return writebacks_per_layer_; }
  const BlockRing& ring() const { return ring_; }

 private:
  void upload(int pos);
  void release(int pos);  // back to the masters (and written back if the pass writes)
  int slot_of(int pos) const { return pos % ring_.slots(); }

  ParameterStore& params_;
  std::vector<std::vector<int>> layer_ids_;
  std::int64_t layer_bytes_ = 0;
  BlockRing ring_;
  std::vector<int> schedule_;
  int pos_ = -1;      // position of the resident layer in schedule_
  int uploaded_ = 0;  // positions [0, uploaded_) have been uploaded
  bool open_ = false;
  std::vector<char> write_back_;  // per layer, for the open pass
  OffloadCounters counters_;
  std::vector<std::int64_t> uploads_per_layer_, writebacks_per_layer_;
};

}  // namespace zoptimus

// BlockRing: the device slots of offloading (optim.offload). A slot holds the local blocks of
// one decoder layer, its tensors packed one after another (each at a 64-byte boundary, as a
// separate allocation would be); view(s, k) is tensor k of the layer in slot s. The slots are
// registered in the WorkspaceRegistry as offload slots (WorkspacePurpose::OffloadSlots).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/types.hpp"
#include "core/workspace_registry.hpp"

namespace zoptimus {

// Upload one layer, compute the one before, write back the one before that.
inline constexpr int kMinRingSlots = 3;

using BlockShape = std::pair<std::int64_t, std::int64_t>;  // local [rows, cols]

class BlockRing {
 public:
  // shapes: the local blocks of a layer, in the layer's tensor order.
  BlockRing(std::vector<BlockShape> shapes, int slots);

  int slots() const { return static_cast<int>(buffers_.size()); }
  std::int64_t bytes() const { return lease_.bytes(); }  // all slots
  Matrix view(int slot, int k) const;

  // Bytes of one slot for these shapes, alignment included.
  static std::int64_t slot_bytes(const std::vector<BlockShape>& shapes);

 private:
  std::vector<BlockShape> shapes_;
  std::vector<std::int64_t> offsets_;  // floats from the slot's start
  std::vector<Vector> buffers_;
  WorkspaceLease lease_{WorkspacePurpose::OffloadSlots};
};

// How many slots `cap` bytes allow for slots of `slot_bytes` (cap 0: the minimum ring), never
// more than the layers need (one per layer, or the minimum). A cap below kMinRingSlots slots
// is bad input: zoptimus::Error naming optim.offload_device_bytes and the minimum.
int ring_slots(std::int64_t cap, std::int64_t slot_bytes, int layers);

}  // namespace zoptimus

// BlockRing and the ring's size (see block_ring.hpp).
#include "model/offload/block_ring.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace zoptimus {

namespace {
constexpr std::int64_t kAlignFloats = 16;  // 64 bytes

std::int64_t aligned(std::int64_t floats) {
  return (floats + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
}
}  // namespace

std::int64_t BlockRing::slot_bytes(const std::vector<BlockShape>& shapes) {
  std::int64_t floats = 0;
  for (const auto& [rows, cols] : shapes) floats += aligned(rows * cols);
  return floats * static_cast<std::int64_t>(sizeof(float));
}

BlockRing::BlockRing(std::vector<BlockShape> shapes, int slots) : shapes_(std::move(shapes)) {
  std::int64_t floats = 0;
  for (const auto& [rows, cols] : shapes_) {
    offsets_.push_back(floats);
    floats += aligned(rows * cols);
  }
  for (int s = 0; s < slots; ++s) {
    buffers_.emplace_back(Kokkos::view_alloc(Kokkos::WithoutInitializing, "zoptimus::offload_slot"),
                          static_cast<std::size_t>(floats));
    lease_.add(WorkspaceLease::bytes_of(buffers_.back()));
  }
}

Matrix BlockRing::view(int slot, int k) const {
  const auto& [rows, cols] = shapes_.at(k);
  return Matrix(buffers_.at(slot).data() + offsets_.at(k), rows, cols);
}

int ring_slots(std::int64_t cap, std::int64_t slot_bytes, int layers) {
  if (cap == 0) return kMinRingSlots;
  if (cap / slot_bytes < kMinRingSlots)
    fail(
        "optim.offload_device_bytes = {} is smaller than the smallest offload ring: {} slots of "
        "{} bytes (one decoder layer's blocks on this rank) = {} bytes; raise it to at least {} "
        "or set 0 for the minimum",
        cap, kMinRingSlots, slot_bytes, kMinRingSlots * slot_bytes, kMinRingSlots * slot_bytes);
  return static_cast<int>(
      std::min<std::int64_t>(cap / slot_bytes, std::max(layers, kMinRingSlots)));
}

}  // namespace zoptimus

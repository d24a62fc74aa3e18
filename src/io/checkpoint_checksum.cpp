// Checkpoint checksums (see checkpoint_checksum.hpp).
#include "io/checkpoint_checksum.hpp"

#include <cstring>

#include "core/types.hpp"

namespace zoptimus::detail {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t name_key(const std::string& name) {
  std::uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

std::uint64_t element(std::uint64_t key, std::uint64_t index, float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return splitmix64(splitmix64(key + index) ^ bits);
}

}  // namespace

std::uint64_t block_checksum(const TensorInfo& t, const float* local_block) {
  if (!t.owns_block) return 0;
  const std::uint64_t key = name_key(t.name);
  const std::int64_t ld = t.local_cols();
  std::uint64_t sum = 0;
  for (std::int64_t i = 0; i < t.valid_rows(); ++i)
    for (std::int64_t j = 0; j < t.valid_cols(); ++j) {
      const std::int64_t index = (t.row_offset() + i) * t.cols + t.col_offset() + j;
      sum += element(key, static_cast<std::uint64_t>(index), local_block[i * ld + j]);
    }
  return sum;
}

std::uint64_t local_store_checksum(const ParameterStore& store) {
  std::uint64_t sum = 0;
  for (const auto& t : store.tensors()) {
    if (!t.owns_block) continue;
    auto host = Kokkos::create_mirror_view_and_copy(HostSpace(), store.data(t.id));
    // The mirror is a LayoutRight [local_rows, local_cols] view: row-major and contiguous.
    sum += block_checksum(t, host.data());
  }
  return sum;
}

std::uint64_t global_tensor_checksum(const std::string& name,
                                     const std::vector<std::int64_t>& shape, const float* data) {
  const std::uint64_t key = name_key(name);
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  std::uint64_t sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += element(key, static_cast<std::uint64_t>(i), data[i]);
  return sum;
}

}  // namespace zoptimus::detail

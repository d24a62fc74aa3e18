// Checkpoint checksums: an order-independent 64-bit sum over every element of a store, keyed
// by tensor name and global index, so that the ranks of any mesh can each add the blocks they
// own and a single process reading the whole file gets the same value. Written as the
// attribute "checksum" of /params and /optim/<store>; checked after every write (read back)
// and on every read, so a file with holes (a full disk the MPI-IO layer did not report) is
// never taken for a checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/parameter_store.hpp"

namespace zoptimus::detail {

inline constexpr const char* kChecksumAttribute = "checksum";

// This rank's share: the valid part of the blocks it owns (TensorInfo::owns_block), read from
// a row-major host buffer of the local block [local_rows, local_cols].
std::uint64_t block_checksum(const TensorInfo& t, const float* local_block);
// Sum of block_checksum over the store's tensors, from device memory; not reduced.
std::uint64_t local_store_checksum(const ParameterStore& store);
// A whole tensor held row-major at its global shape ([rows, cols] or [cols]).
std::uint64_t global_tensor_checksum(const std::string& name,
                                     const std::vector<std::int64_t>& shape, const float* data);

}  // namespace zoptimus::detail

// Batches generated from a seed, used until a token dataset is given (data.path = ""). Every
// token is a function of (seed, global sequence index, position) only, so a replica's batch
// is the same whatever the mesh, and dp replicas of batch B see exactly the sequences a
// single replica of batch dp*B sees.
#pragma once

#include <cstdint>

#include "core/config.hpp"
#include "model/batch.hpp"

namespace zoptimus {

// Batch number `index` for replica `replica` of `dp`: sequences
// [(index * dp + replica) * batch, ... + batch).
Batch synthetic_batch(const DataConfig& data, int vocab, int replica, int dp, std::int64_t index);

}  // namespace zoptimus

// The memory a run needs per rank against what its node has, checked before any allocation:
// a deck that cannot fit (data.batch = 2^30) is one message with the numbers and the keys to
// change on every rank, not std::bad_alloc once per rank.
#pragma once

#include "core/config.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

// Collective over mesh.world(). The node's share of a rank: MemAvailable (/proc/meminfo)
// divided among the ranks of the node (MPI_Comm_split_type SHARED). Logs the estimate;
// throws AgreedError when any rank's estimate exceeds its share. No check where
// /proc/meminfo is unreadable.
void check_memory_fits(const Config& config, const Mesh& mesh);

}  // namespace zoptimus

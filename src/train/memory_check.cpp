// check_memory_fits (see memory_check.hpp).
#include "train/memory_check.hpp"

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/memory_estimate.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus {

namespace {

// MemAvailable in bytes, or -1 when unknown.
double mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  double kib = 0;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  return -1;
}

int ranks_on_this_node(MPI_Comm comm) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int size = 1;
  MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  return size;
}

}  // namespace

void check_memory_fits(const Config& config, const Mesh& mesh) {
  const MemoryEstimate e = estimate_memory(
      ModelDims::from_config(config.model), mesh.shape(), config.data.batch, config.data.seq_len,
      config.data.task == Task::Lm,
      config.optim.offload ? static_cast<double>(config.optim.offload_device_bytes) : -1.0);
  const int node_ranks = ranks_on_this_node(mesh.world());
  const double available = mem_available();
  constexpr double kMiB = 1048576.0;
  log::info(
      "memory estimate per rank: {:.1f} MiB (parameters {:.2f}, activations {:.2f}, SUMMA "
      "panels <= {:.2f}, ZO scratch <= {:.2f} KiB); {:.1f} MiB available for each of {} ranks "
      "on the node",
      e.total() / kMiB, e.parameters / 1024, e.activations / 1024, e.summa_panels / 1024,
      e.zo_scratch / 1024, available < 0 ? -1.0 : available / node_ranks / kMiB, node_ranks);
  if (config.optim.offload)
    log::info(
        "offload: device-resident per rank {:.2f} KiB (offload slots {:.2f} KiB, other "
        "parameters {:.2f} KiB); decoder layers in host memory {:.2f} KiB",
        e.device_total() / 1024, e.offload_slots / 1024, e.parameters / 1024,
        e.host_parameters / 1024);
  run_collectively(mesh.world(), [&] {
    if (available < 0 || e.total() <= available / node_ranks) return;
    fail(
        "the run needs about {:.0f} MiB per rank (parameters {:.0f}, activations {:.0f}, SUMMA "
        "panels {:.0f}, ZO scratch {:.0f} MiB) but the node has {:.0f} MiB available for each "
        "of its {} ranks: lower data.batch (now {}) or data.seq_len (now {}), or use more ranks "
        "(a larger mesh splits the model and the batch)",
        e.total() / kMiB, e.parameters / kMiB, e.activations / kMiB, e.summa_panels / kMiB,
        e.zo_scratch / kMiB, available / node_ranks / kMiB, node_ranks, config.data.batch,
        config.data.seq_len);
  });
}

}  // namespace zoptimus

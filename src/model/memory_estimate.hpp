// Closed-form estimate of one rank's memory for a model on a mesh, from the deck alone (no
// allocation), so that a run too large for its nodes is refused before it starts. The
// figures are those the workspace registry (core/workspace_registry.hpp) records once the
// buffers exist: parameters and activations closely (padding and replicated vectors aside),
// SUMMA panels and ZO scratch as upper bounds (their real size depends on the GEMM order and
// on which tensors a step perturbs).
#pragma once

#include "model/model_dims.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

struct MemoryEstimate {
  double parameters = 0, activations = 0, summa_panels = 0, zo_scratch = 0;  // bytes
  // Offloading (optim.offload): the decoder layers' parameters are in host memory
  // (host_parameters) and only a ring of layer slots (offload_slots) is device-resident;
  // `parameters` is then the device-resident rest (embeddings, final LayerNorm).
  double offload_slots = 0, host_parameters = 0;
  double device_total() const {
    return parameters + activations + summa_panels + zo_scratch + offload_slots;
  }
  double total() const { return device_total() + host_parameters; }  // device + host
};

// One rank of `shape`, micro-batches of `batch` sequences (per replica) of `seq` tokens, with
// the ZO step's two activation streams. lm_head: the task's loss runs the LM head (its
// logits chunk buffer; classification never forms vocabulary logits). offload_cap: < 0
// without offloading, otherwise optim.offload_device_bytes (0: the minimum ring of 3 slots).
MemoryEstimate estimate_memory(const ModelDims& dims, const MeshShape& shape, double batch,
                               double seq, bool lm_head = true, double offload_cap = -1);

}  // namespace zoptimus

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
  double total() const { return parameters + activations + summa_panels + zo_scratch; }
};

// One rank of `shape`, micro-batches of `batch` sequences (per replica) of `seq` tokens, with
// the ZO step's two activation streams. lm_head: the task's loss runs the LM head (its
// logits chunk buffer; classification never forms vocabulary logits).
MemoryEstimate estimate_memory(const ModelDims& dims, const MeshShape& shape, double batch,
                               double seq, bool lm_head = true);

}  // namespace zoptimus

// The BatchSource over a token dataset (config.data.path).
#pragma once

#include <memory>

#include "core/config.hpp"
#include "io/batch_source.hpp"
#include "parallel/mesh.hpp"

namespace zoptimus {

// The BatchSource over config.data.path: train batches cycle through /train, eval batches
// come from /validation. Call on every rank of the mesh (inside run_collectively): opening
// may fail on some ranks only.
std::unique_ptr<BatchSource> make_dataset_batch_source(const Config& config, const Mesh& mesh);

}  // namespace zoptimus

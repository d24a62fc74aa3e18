// Parameter-shaped state (e.g. a momentum buffer) under a name, with the same tensor table
// as the model's parameters; checkpoints write each as a group beside /params.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/parameter_store.hpp"

namespace zoptimus {

using NamedStores = std::vector<std::pair<std::string, const ParameterStore*>>;
using NamedStoresIn = std::vector<std::pair<std::string, ParameterStore*>>;

}  // namespace zoptimus

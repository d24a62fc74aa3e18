// StateDict: a component's resumable state as plain named arrays (no file format, no
// parameter-shaped data), so that the layer that owns the state does not know how it is
// stored; io/checkpoint.hpp writes it under /optim. Keys become HDF5 names: non-empty, no
// '/', and a key is used once across reals, integers and the names of parameter stores.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace zoptimus {

struct StateDict {
  std::int64_t step = 0;                                      // completed steps
  std::map<std::string, std::string> text;                    // short strings
  std::map<std::string, std::vector<double>> reals;           // float64 arrays
  std::map<std::string, std::vector<std::int64_t>> integers;  // int64 arrays
};

}  // namespace zoptimus

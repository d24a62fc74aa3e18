// Step seeds and LeZO layer subsets.
#include "optim/step_seeds.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/splitmix64.hpp"

namespace zoptimus {

std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  // splitmix64 of a combined with b: cheap, well mixed, platform independent.
  return splitmix64(a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2)));
}

std::vector<int> choose_active_layers(std::uint64_t step_seed, int layers, int count) {
  std::vector<int> all(layers);
  std::iota(all.begin(), all.end(), 0);
  // Partial Fisher-Yates driven by the seed.
  std::uint64_t s = mix_seed(step_seed, 0x1e20ULL);
  for (int i = 0; i < count && i < layers; ++i) {
    s = mix_seed(s, static_cast<std::uint64_t>(i));
    const int j = i + static_cast<int>(s % static_cast<std::uint64_t>(layers - i));
    std::swap(all[i], all[j]);
  }
  all.resize(std::min(count, layers));
  std::sort(all.begin(), all.end());
  return all;
}

int active_layer_count(double active_layers, int layers) {
  if (active_layers >= 1.0) return std::min(layers, static_cast<int>(active_layers));
  return std::clamp(static_cast<int>(std::lround(active_layers * layers)), 1, layers);
}

}  // namespace zoptimus

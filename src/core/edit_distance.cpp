// Levenshtein distance and closest-word hints (see edit_distance.hpp).
#include "core/edit_distance.hpp"

#include <algorithm>

namespace zoptimus {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_word(const std::string& word, const std::vector<std::string>& known,
                         std::size_t max_distance) {
  std::string best;
  std::size_t best_d = max_distance;
  for (const auto& k : known)
    if (const std::size_t d = edit_distance(word, k); d < best_d) best_d = d, best = k;
  return best;
}

}  // namespace zoptimus

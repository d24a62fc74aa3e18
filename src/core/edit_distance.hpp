// "Did you mean" hints: the Levenshtein distance and the closest known word.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace zoptimus {

std::size_t edit_distance(const std::string& a, const std::string& b);

// The known word closest to `word` at a distance below `max_distance`; empty if none.
std::string closest_word(const std::string& word, const std::vector<std::string>& known,
                         std::size_t max_distance);

}  // namespace zoptimus

// A micro-batch as the model sees it: the full token block of one data-parallel replica.
#pragma once

#include <vector>

namespace zoptimus {

struct Batch {
  int batch = 0;  // sequences (per replica)
  int seq = 0;
  std::vector<int> tokens;   // [batch * seq], row = b * seq + position
  std::vector<int> targets;  // [batch * seq], next token or -1 (ignored)

  // Classification (MeZO style): the label word is predicted at last_pos[b].
  std::vector<int> last_pos;     // [batch]
  std::vector<int> labels;       // [batch], index into label_words
  std::vector<int> label_words;  // token ids of the candidate labels
};

// Loss summed over tokens (or sequences) and their count, already reduced over the mesh.
struct LossSums {
  double sum = 0;
  double count = 0;
  double correct = 0;  // classification only
  double mean() const { return count > 0 ? sum / count : 0.0; }
  double accuracy() const { return count > 0 ? correct / count : 0.0; }
};

}  // namespace zoptimus

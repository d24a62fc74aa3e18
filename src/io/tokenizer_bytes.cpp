// The byte-level tokenizer (see tokenizer_bytes.hpp).
#include "io/tokenizer_bytes.hpp"

namespace zoptimus::bytes_v1 {

std::vector<std::int32_t> encode(std::string_view text) {
  std::vector<std::int32_t> out;
  out.reserve(text.size());
  for (char c : text) out.push_back(static_cast<unsigned char>(c));
  return out;
}

std::string decode(const std::vector<std::int32_t>& tokens) {
  std::string out;
  for (std::int32_t t : tokens)
    if (t >= 0 && t < 256) out.push_back(static_cast<char>(static_cast<unsigned char>(t)));
  return out;
}

}  // namespace zoptimus::bytes_v1

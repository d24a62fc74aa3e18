// Tokenizer "bytes-v1": token = byte value (0..255), then four special tokens. The
// self-contained tokenizer of the demo; real models bring their own (docs/design.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zoptimus::bytes_v1 {

inline constexpr std::int32_t kBos = 256;
inline constexpr std::int32_t kEos = 257;
inline constexpr std::int32_t kPad = 258;
inline constexpr std::int32_t kReserved = 259;
inline constexpr std::int32_t kVocab = 260;
inline constexpr const char* kName = "bytes-v1";

std::vector<std::int32_t> encode(std::string_view text);
// Bytes back to text; special tokens are dropped.
std::string decode(const std::vector<std::int32_t>& tokens);

}  // namespace zoptimus::bytes_v1

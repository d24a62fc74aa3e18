// The token dataset file ("zoptimus-tokens", version 1), shared by its writer and reader.
//
//   root attrs  format, format_version (int64), task ("lm" | "classification"),
//               tokenizer ("bytes-v1"), vocab, seq_len, pad_id (int64)
//   /train/tokens, /validation/tokens   int32 [N, seq_len]
//   /train/labels, /train/last_pos      int32 [N]   (classification; same under /validation)
//   /label_words                        int32 [L]   (classification)
#pragma once

#include <cstdint>

namespace zoptimus {

inline constexpr const char* kTokenDatasetFormat = "zoptimus-tokens";
inline constexpr std::int64_t kTokenDatasetVersion = 1;

}  // namespace zoptimus

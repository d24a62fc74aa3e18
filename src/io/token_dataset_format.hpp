// The token dataset file ("zoptimus-tokens", version 1), shared by its writer and reader.
//
//   root attrs  format, format_version (int64), task ("lm" | "classification"),
//               tokenizer (a name: "bytes-v1", or "hf:<fingerprint>" for a Hugging Face
//               tokenizer, see scripts/make_dataset.py), vocab, seq_len, pad_id (int64);
//               bos_id, eos_id (int64; optional, -1 = none)
//   /train/tokens, /validation/tokens   int32 [N, seq_len]
//   /test/tokens                        int32 [N, seq_len] (optional: a held-back test split)
//   /train/labels, /train/last_pos      int32 [N]   (classification; same under /validation,
//                                                    /test)
//   /label_words                        int32 [L]   (classification)
#pragma once

#include <cstdint>

namespace zoptimus {

inline constexpr const char* kTokenDatasetFormat = "zoptimus-tokens";
inline constexpr std::int64_t kTokenDatasetVersion = 1;

}  // namespace zoptimus

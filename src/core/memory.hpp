// Process memory figures: peak resident set size of this rank.
#pragma once

#include <cstdint>

namespace zoptimus {

std::int64_t peak_rss_bytes();

}  // namespace zoptimus

// Wall-clock timestamps for file metadata.
#pragma once

#include <string>

namespace zoptimus {

// Now as ISO 8601 UTC, e.g. "2026-12-01T23:12:16Z".
std::string utc_timestamp();

}  // namespace zoptimus

// ISO 8601 UTC timestamps (see utc_time.hpp).
#include "core/utc_time.hpp"

#include <ctime>

namespace zoptimus {

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace zoptimus

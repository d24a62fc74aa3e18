// Peak RSS from getrusage (kilobytes on Linux).
#include "core/memory.hpp"

#include <sys/resource.h>

namespace zoptimus {

std::int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::int64_t>(u.ru_maxrss) * 1024;
}

}  // namespace zoptimus

// zoptimus::Error: the one exception type for problems a user can act on.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace zoptimus {

// Thrown for bad input (deck, overrides, mesh, files) and unrecoverable run-time faults.
// The message must say what is wrong, where, and what was expected.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Internal invariant: a failure is a bug in zoptimus, not in the user's input.
#define ZOPTIMUS_ASSERT(cond)                                                             \
  do {                                                                                    \
    if (!(cond))                                                                          \
      ::zoptimus::fail("internal error: assertion '{}' failed at {}:{}", #cond, __FILE__, \
                       __LINE__);                                                         \
  } while (0)

}  // namespace zoptimus

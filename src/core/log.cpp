// Rank-aware logging implementation.
#include "core/log.hpp"

namespace zoptimus::log {
namespace {
int g_rank = 0;
bool g_verbose = false;
}  // namespace

void set_rank(int world_rank) {
  g_rank = world_rank;
}
int rank() {
  return g_rank;
}
void set_verbose(bool verbose) {
  g_verbose = verbose;
}
bool verbose() {
  return g_verbose;
}

void write_info(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void write_debug(const std::string& line) {
  write_info("[debug] " + line);
}

void write_warn(const std::string& line) {
  std::fputs(fmt::format("warning (rank {}): {}\n", g_rank, line).c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace zoptimus::log

// Rank-aware logging: info() prints on world rank 0 only, warn()/error() on any rank.
#pragma once

#include <cstdio>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace zoptimus::log {

// Called once after MPI_Init; before that every process counts as rank 0.
void set_rank(int world_rank);
int rank();
void set_verbose(bool verbose);
bool verbose();

void write_info(const std::string& line);
void write_debug(const std::string& line);
void write_warn(const std::string& line);

template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (rank() == 0) write_info(fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  if (rank() == 0 && verbose()) write_debug(fmt::format(format, std::forward<Args>(args)...));
}

// Warnings may come from any rank; they name the rank.
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  write_warn(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace zoptimus::log

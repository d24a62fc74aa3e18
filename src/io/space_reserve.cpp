// SpaceReserve (see space_reserve.hpp).
#include "io/space_reserve.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/error.hpp"

namespace zoptimus {

SpaceReserve::SpaceReserve(const std::string& path, std::int64_t bytes) : path_(path + ".reserve") {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot create '{}': {}", path_, std::strerror(errno));
  const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  if (rc != 0) {
    std::remove(path_.c_str());
    path_.clear();
    fail("cannot reserve {} KiB next to '{}' for closing it safely: {}", bytes / 1024, path,
         std::strerror(rc));
  }
}

SpaceReserve::SpaceReserve(SpaceReserve&& other) noexcept
    : path_(std::exchange(other.path_, std::string())) {}

SpaceReserve& SpaceReserve::operator=(SpaceReserve&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::exchange(other.path_, std::string());
  }
  return *this;
}

void SpaceReserve::release() {
  if (path_.empty()) return;
  std::remove(path_.c_str());
  path_.clear();
}

}  // namespace zoptimus

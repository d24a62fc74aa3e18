// SpaceReserve: a file of a few hundred KiB held next to an output file and given back before
// that file is closed. Closing an HDF5 file writes its pending metadata; when that fails for
// want of space, HDF5 1.10 keeps a half-closed file that crashes the process when the library
// shuts down (in MPI_Finalize). Deleting the reserve first leaves room for the close.
#pragma once

#include <cstdint>
#include <string>

namespace zoptimus {

class SpaceReserve {
 public:
  SpaceReserve() = default;
  // Allocates `bytes` in "<path>.reserve"; throws zoptimus::Error when the file system has
  // not even that much room.
  SpaceReserve(const std::string& path, std::int64_t bytes);
  ~SpaceReserve() { release(); }
  SpaceReserve(SpaceReserve&& other) noexcept;
  SpaceReserve& operator=(SpaceReserve&& other) noexcept;
  SpaceReserve(const SpaceReserve&) = delete;
  SpaceReserve& operator=(const SpaceReserve&) = delete;

  // Deletes the reserve (idempotent).
  void release();

 private:
  std::string path_;
};

}  // namespace zoptimus

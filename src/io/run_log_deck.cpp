// Reading a run log's deck attribute (the rest of the reader is in run_log.cpp).
#include <filesystem>

#include "core/error.hpp"
#include "io/hdf5_handles.hpp"
#include "io/run_log.hpp"

namespace zoptimus {

std::string read_run_log_deck(const std::string& path) {
  if (!std::filesystem::exists(path)) fail("run log '{}': no such file", path);
  const h5::QuietErrors quiet_hdf5;  // failures become one zoptimus::Error
  h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.valid()) fail("run log '{}': not an HDF5 file", path);
  if (!h5::has_attribute(file, "format") ||
      h5::read_string_attribute(file, "format") != "zoptimus-runlog")
    fail("run log '{}': not a zoptimus run log (root attribute format != \"zoptimus-runlog\")",
         path);
  if (!h5::has_attribute(file, "deck")) fail("run log '{}': no deck attribute", path);
  return h5::read_string_attribute(file, "deck");
}

}  // namespace zoptimus

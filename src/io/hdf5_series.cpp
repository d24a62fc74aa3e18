// Extendible datasets (see hdf5_series.hpp).
#include "io/hdf5_series.hpp"

namespace zoptimus::h5 {
namespace {

// Rows per chunk: about 64 KiB of float64 per chunk, at most 1024 rows.
hsize_t chunk_rows(hsize_t cols) {
  return std::clamp<hsize_t>(8192 / std::max<hsize_t>(cols, 1), 1, 1024);
}

}  // namespace

void create_series(hid_t loc, const std::string& name, hid_t file_type, hsize_t cols) {
  const int rank = cols == 0 ? 1 : 2;
  const hsize_t dims[2] = {0, cols};
  const hsize_t maxdims[2] = {H5S_UNLIMITED, cols};
  const hsize_t chunk[2] = {chunk_rows(cols), cols};
  Dataspace space(ZOPTIMUS_H5(H5Screate_simple(rank, dims, maxdims)));
  PropList dcpl(ZOPTIMUS_H5(H5Pcreate(H5P_DATASET_CREATE)));
  ZOPTIMUS_H5(H5Pset_chunk(dcpl, rank, chunk));
  Dataset dset(
      ZOPTIMUS_H5(H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)));
}

void series_shape(hid_t dataset, const std::string& name, int expected_rank, hsize_t& rows,
                  hsize_t& cols) {
  Dataspace space(ZOPTIMUS_H5(H5Dget_space(dataset)));
  const int rank = ZOPTIMUS_H5(H5Sget_simple_extent_ndims(space));
  if (rank != expected_rank)
    fail("dataset /{} has rank {}, expected {}", name, rank, expected_rank);
  hsize_t dims[2] = {0, 0};
  ZOPTIMUS_H5(H5Sget_simple_extent_dims(space, dims, nullptr));
  rows = dims[0];
  cols = rank == 2 ? dims[1] : 0;
}

hsize_t append_rows(hid_t loc, const std::string& name, hid_t mem_type, const void* data,
                    hsize_t rows) {
  Dataset dset = open_dataset(loc, name);
  Dataspace space(ZOPTIMUS_H5(H5Dget_space(dset)));
  const int rank = ZOPTIMUS_H5(H5Sget_simple_extent_ndims(space));
  if (rank < 1 || rank > 2) fail("dataset /{} has rank {}, expected 1 or 2", name, rank);
  hsize_t dims[2] = {0, 1};
  ZOPTIMUS_H5(H5Sget_simple_extent_dims(space, dims, nullptr));
  const hsize_t old_rows = dims[0];
  if (rows == 0) return old_rows;
  const hsize_t new_dims[2] = {old_rows + rows, dims[1]};
  ZOPTIMUS_H5(H5Dset_extent(dset, new_dims));
  Dataspace file_space(ZOPTIMUS_H5(H5Dget_space(dset)));
  const hsize_t start[2] = {old_rows, 0};
  const hsize_t count[2] = {rows, dims[1]};
  ZOPTIMUS_H5(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr));
  Dataspace mem_space(ZOPTIMUS_H5(H5Screate_simple(rank, count, nullptr)));
  ZOPTIMUS_H5(H5Dwrite(dset, mem_type, mem_space, file_space, H5P_DEFAULT, data));
  return old_rows;
}

}  // namespace zoptimus::h5

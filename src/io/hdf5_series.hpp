// Extendible ("series") datasets on top of the HDF5 layer: 1D [rows] or 2D [rows, cols]
// datasets that grow by appending rows, and whole-dataset reads. Used by the run log, whose
// per-step records are appended as a run goes. Failures throw zoptimus::Error (ZOPTIMUS_H5).
#pragma once

#include <hdf5.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5_handles.hpp"

namespace zoptimus::h5 {

// An empty extendible dataset `name` in `loc`: 1D [0] when cols == 0, else 2D [0, cols].
// Uncompressed chunks never move once written, which keeps a file cut off between flushes
// readable.
void create_series(hid_t loc, const std::string& name, hid_t file_type, hsize_t cols);

// Appends `rows` rows (of the dataset's fixed column count) and returns the row count before
// the append.
hsize_t append_rows(hid_t loc, const std::string& name, hid_t mem_type, const void* data,
                    hsize_t rows);

// Shape of a 1D or 2D dataset: rows and cols (cols = 0 for 1D). Fails on another rank.
void series_shape(hid_t dataset, const std::string& name, int expected_rank, hsize_t& rows,
                  hsize_t& cols);

// The whole 1D (expected_rank 1) or 2D dataset converted to T, row-major.
template <class T>
std::vector<T> read_series(hid_t loc, const std::string& name, hid_t mem_type, int expected_rank,
                           hsize_t& rows, hsize_t& cols) {
  if (!link_exists(loc, name)) fail("dataset /{} is missing", name);
  Dataset dset = open_dataset(loc, name);
  series_shape(dset, name, expected_rank, rows, cols);
  std::vector<T> values(rows * std::max<hsize_t>(cols, 1));
  if (!values.empty())
    ZOPTIMUS_H5(H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  return values;
}

template <class T>
std::vector<T> read_series_1d(hid_t loc, const std::string& name, hid_t mem_type) {
  hsize_t rows = 0, cols = 0;
  return read_series<T>(loc, name, mem_type, 1, rows, cols);
}

}  // namespace zoptimus::h5

// RAII owners for HDF5 identifiers, the one check that turns a failed HDF5 call into
// zoptimus::Error, and the small attribute/link helpers the HDF5 writers share.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace zoptimus::h5 {

// Turns HDF5's automatic printing of its error stack off while alive, and restores what was
// there before: failures inside the scope are reported once, as zoptimus::Error, by
// ZOPTIMUS_H5 instead of a page of HDF5 traces. Put one at the top of every HDF5 entry point.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The most specific message on HDF5's error stack (e.g. "truncated file: eof = ..."), which
// it then clears; for turning an expected failure (opening a user's file) into a message.
std::string error_message();

namespace detail {
// Throws zoptimus::Error naming the call, where it was made, and error_message().
[[noreturn]] void fail_call(const char* call, const char* file, int line);
}  // namespace detail

template <class T>
T check(T result, const char* call, const char* file, int line) {
  if (result < 0) detail::fail_call(call, file, line);
  return result;
}

// Wrap every HDF5 call whose failure is not an expected outcome: ZOPTIMUS_H5(H5Dwrite(...)).
#define ZOPTIMUS_H5(call) ::zoptimus::h5::check((call), #call, __FILE__, __LINE__)

// An owned hid_t, released with `Close` when the owner goes out of scope.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.release()) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.release();
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // pass straight to H5 calls
  bool valid() const { return id_ >= 0; }
  hid_t release() {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  // Closes quietly (destructors must not throw); use close() where a failure matters.
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  // Closes and reports a failure, e.g. the final flush of a file.
  void close() {
    if (id_ >= 0) check(Close(release()), "close", __FILE__, __LINE__);
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using PropList = Handle<H5Pclose>;
using Attribute = Handle<H5Aclose>;
using Datatype = Handle<H5Tclose>;
using Object = Handle<H5Oclose>;

// Opens a file; the handle is invalid on failure (then error_message() says why), so that the
// caller can name the file and the likely cause.
File try_open_file(const std::string& path, unsigned flags, hid_t access_plist = H5P_DEFAULT);
// Opens a file read-only; throws zoptimus::Error with HDF5's reason on failure.
File open_file_read_only(const std::string& path, hid_t access_plist = H5P_DEFAULT);
// Opens a dataset; throws on failure.
Dataset open_dataset(hid_t loc, const std::string& name);

// Variable-length UTF-8 string type: what h5py reads as str.
Datatype utf8_string_type();

// Scalar attributes on a file, group or dataset (created, or overwritten if present).
void write_attribute(hid_t object, const std::string& name, const std::string& value);
void write_attribute(hid_t object, const std::string& name, std::int64_t value);
void write_attribute(hid_t object, const std::string& name, std::int32_t value);
void write_attribute(hid_t object, const std::string& name, double value);

bool has_attribute(hid_t object, const std::string& name);
std::vector<std::string> attribute_names(hid_t object);
// Readers throw zoptimus::Error naming the attribute and the type found when it is missing
// or of the wrong kind (strings may be fixed or variable length; any integer or float
// width converts).
std::string read_string_attribute(hid_t object, const std::string& name);
std::int64_t read_int_attribute(hid_t object, const std::string& name);
double read_double_attribute(hid_t object, const std::string& name);
bool is_string_attribute(hid_t object, const std::string& name);

// A plain group.
Group create_group(hid_t parent, const std::string& name);
// A group whose links remember their creation order (so listings keep the writer's order).
Group create_ordered_group(hid_t parent, const std::string& name);
bool link_exists(hid_t parent, const std::string& name);
// Names of the links in a group: creation order if the group tracks it, else by name.
std::vector<std::string> link_names(hid_t group);

// "float32", "float64", "int64", "string", ...: for messages about dtypes.
std::string describe_type(hid_t type);
std::vector<std::int64_t> dataset_shape(hid_t dataset);

}  // namespace zoptimus::h5

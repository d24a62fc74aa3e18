// HDF5 error checking and attribute/link helpers.
#include "io/hdf5_handles.hpp"

#include <cstring>

#include "core/error.hpp"

namespace zoptimus::h5 {

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() {
  H5Eset_auto2(H5E_DEFAULT, func_, data_);
}

namespace {

// Collects the descriptions on HDF5's error stack, innermost (most specific) first.
herr_t collect_error(unsigned, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (err->desc != nullptr && *err->desc != '\0') out->emplace_back(err->desc);
  return 0;
}

// "src/io/checkpoint.cpp" rather than the build machine's absolute path.
const char* short_path(const char* file) {
  const char* src = std::strstr(file, "/src/");
  return src != nullptr ? src + 1 : file;
}

Attribute open_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) fail("missing attribute '{}'", name);
  return Attribute(ZOPTIMUS_H5(H5Aopen(object, name.c_str(), H5P_DEFAULT)));
}

// Attributes hold one value: a scalar or a one-element array (both are what writers use).
void require_single_value(const Attribute& attr, const std::string& name) {
  Dataspace space(ZOPTIMUS_H5(H5Aget_space(attr)));
  const hssize_t n = ZOPTIMUS_H5(H5Sget_simple_extent_npoints(space));
  if (n != 1) fail("attribute '{}' holds {} values, expected 1", name, n);
}

template <class T>
void write_scalar(hid_t object, const std::string& name, hid_t file_type, hid_t mem_type,
                  const T* value) {
  if (has_attribute(object, name)) ZOPTIMUS_H5(H5Adelete(object, name.c_str()));
  Dataspace space(ZOPTIMUS_H5(H5Screate(H5S_SCALAR)));
  Attribute attr(
      ZOPTIMUS_H5(H5Acreate2(object, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT)));
  ZOPTIMUS_H5(H5Awrite(attr, mem_type, value));
}

}  // namespace

std::string error_message() {
  std::vector<std::string> stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &stack);
  H5Eclear2(H5E_DEFAULT);
  return stack.empty() ? std::string("no message from HDF5") : stack.front();
}

void detail::fail_call(const char* call, const char* file, int line) {
  const std::string message = error_message();
  fail("HDF5 call {} failed ({}:{}): {}", call, short_path(file), line, message);
}

File try_open_file(const std::string& path, unsigned flags, hid_t access_plist) {
  return File(H5Fopen(path.c_str(), flags, access_plist));
}

File open_file_read_only(const std::string& path, hid_t access_plist) {
  return File(ZOPTIMUS_H5(H5Fopen(path.c_str(), H5F_ACC_RDONLY, access_plist)));
}

Dataset open_dataset(hid_t loc, const std::string& name) {
  return Dataset(ZOPTIMUS_H5(H5Dopen2(loc, name.c_str(), H5P_DEFAULT)));
}

Datatype utf8_string_type() {
  Datatype t(ZOPTIMUS_H5(H5Tcopy(H5T_C_S1)));
  ZOPTIMUS_H5(H5Tset_size(t, H5T_VARIABLE));
  ZOPTIMUS_H5(H5Tset_cset(t, H5T_CSET_UTF8));
  return t;
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  Datatype t = utf8_string_type();
  const char* p = value.c_str();
  write_scalar(object, name, t, t, &p);
}

void write_attribute(hid_t object, const std::string& name, std::int64_t value) {
  write_scalar(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void write_attribute(hid_t object, const std::string& name, std::int32_t value) {
  write_scalar(object, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

void write_attribute(hid_t object, const std::string& name, double value) {
  write_scalar(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

bool has_attribute(hid_t object, const std::string& name) {
  return ZOPTIMUS_H5(H5Aexists(object, name.c_str())) > 0;
}

std::vector<std::string> attribute_names(hid_t object) {
  std::vector<std::string> names;
  auto op = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t index = 0;
  ZOPTIMUS_H5(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, op, &names));
  return names;
}

bool is_string_attribute(hid_t object, const std::string& name) {
  Attribute attr = open_attribute(object, name);
  Datatype type(ZOPTIMUS_H5(H5Aget_type(attr)));
  return H5Tget_class(type) == H5T_STRING;
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  Attribute attr = open_attribute(object, name);
  Datatype file_type(ZOPTIMUS_H5(H5Aget_type(attr)));
  if (H5Tget_class(file_type) != H5T_STRING)
    fail("attribute '{}' is {}, expected a string", name, describe_type(file_type));
  require_single_value(attr, name);
  // Memory type in the file's character set: HDF5 does not convert ASCII <-> UTF-8.
  Datatype mem(ZOPTIMUS_H5(H5Tcopy(H5T_C_S1)));
  ZOPTIMUS_H5(H5Tset_cset(mem, H5Tget_cset(file_type)));
  if (ZOPTIMUS_H5(H5Tis_variable_str(file_type)) > 0) {
    ZOPTIMUS_H5(H5Tset_size(mem, H5T_VARIABLE));
    char* text = nullptr;
    ZOPTIMUS_H5(H5Aread(attr, mem, &text));
    std::string out = text != nullptr ? text : "";
    H5free_memory(text);
    return out;
  }
  const std::size_t size = H5Tget_size(file_type);
  ZOPTIMUS_H5(H5Tset_size(mem, size + 1));  // room for the terminator HDF5 adds
  std::string buffer(size + 1, '\0');
  ZOPTIMUS_H5(H5Aread(attr, mem, buffer.data()));
  return buffer.substr(0, std::strlen(buffer.c_str()));
}

std::int64_t read_int_attribute(hid_t object, const std::string& name) {
  Attribute attr = open_attribute(object, name);
  Datatype type(ZOPTIMUS_H5(H5Aget_type(attr)));
  if (H5Tget_class(type) != H5T_INTEGER)
    fail("attribute '{}' is {}, expected an integer", name, describe_type(type));
  require_single_value(attr, name);
  std::int64_t value = 0;
  ZOPTIMUS_H5(H5Aread(attr, H5T_NATIVE_INT64, &value));
  return value;
}

double read_double_attribute(hid_t object, const std::string& name) {
  Attribute attr = open_attribute(object, name);
  Datatype type(ZOPTIMUS_H5(H5Aget_type(attr)));
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    fail("attribute '{}' is {}, expected a number", name, describe_type(type));
  require_single_value(attr, name);
  double value = 0;
  ZOPTIMUS_H5(H5Aread(attr, H5T_NATIVE_DOUBLE, &value));
  return value;
}

Group create_group(hid_t parent, const std::string& name) {
  return Group(
      ZOPTIMUS_H5(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
}

Group create_ordered_group(hid_t parent, const std::string& name) {
  PropList gcpl(ZOPTIMUS_H5(H5Pcreate(H5P_GROUP_CREATE)));
  ZOPTIMUS_H5(H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED));
  return Group(ZOPTIMUS_H5(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT)));
}

bool link_exists(hid_t parent, const std::string& name) {
  return ZOPTIMUS_H5(H5Lexists(parent, name.c_str(), H5P_DEFAULT)) > 0;
}

std::vector<std::string> link_names(hid_t group) {
  H5G_info_t info;
  ZOPTIMUS_H5(H5Gget_info(group, &info));
  PropList gcpl(ZOPTIMUS_H5(H5Gget_create_plist(group)));
  unsigned order = 0;
  ZOPTIMUS_H5(H5Pget_link_creation_order(gcpl, &order));
  const H5_index_t index = (order & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t length =
        ZOPTIMUS_H5(H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT));
    std::string name(static_cast<std::size_t>(length) + 1, '\0');
    ZOPTIMUS_H5(H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, name.data(), name.size(),
                                   H5P_DEFAULT));
    name.resize(static_cast<std::size_t>(length));
    names.push_back(std::move(name));
  }
  return names;
}

std::string describe_type(hid_t type) {
  const std::size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return fmt::format("{}{}", H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", bits);
    case H5T_FLOAT:
      return fmt::format("float{}", bits);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "vlen";
    default:
      return "another HDF5 type";
  }
}

std::vector<std::int64_t> dataset_shape(hid_t dataset) {
  Dataspace space(ZOPTIMUS_H5(H5Dget_space(dataset)));
  const int rank = ZOPTIMUS_H5(H5Sget_simple_extent_ndims(space));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  ZOPTIMUS_H5(H5Sget_simple_extent_dims(space, dims.data(), nullptr));
  return std::vector<std::int64_t>(dims.begin(), dims.end());
}

}  // namespace zoptimus::h5

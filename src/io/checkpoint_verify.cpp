// verify_checkpoint: the checks of a restart, without a deck or a mesh (one process reads
// the whole file): used by `zoptimus ckpt info --verify` and by io.restart = "latest".
#include <hdf5.h>

#include <vector>

#include "core/choices.hpp"
#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/checkpoint_checksum.hpp"
#include "io/hdf5_handles.hpp"
#include "model/model_dims.hpp"

namespace zoptimus {

namespace {

// Reads every tensor of `group` whole; returns the sum of their checksums and counts NaN/Inf.
std::uint64_t group_checksum(hid_t file, const std::string& group, const TensorShapes& tensors,
                             std::int64_t& non_finite) {
  std::uint64_t sum = 0;
  h5::Group g(ZOPTIMUS_H5(H5Gopen2(file, group.c_str(), H5P_DEFAULT)));
  for (const auto& [name, shape] : tensors) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    std::vector<float> data(static_cast<std::size_t>(n));
    h5::Dataset d = h5::open_dataset(g, name);
    if (n > 0)
      ZOPTIMUS_H5(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()));
    for (float v : data) non_finite += !(v - v == 0.0f);
    sum += detail::global_tensor_checksum(name, shape, data.data());
  }
  return sum;
}

}  // namespace

CheckpointInfo verify_checkpoint(const std::string& path) {
  CheckpointInfo info = read_checkpoint_info(path);
  // The tensor table of the model the file describes, on one rank.
  Config config;
  ModelConfig& m = config.model;
  m.vocab = static_cast<int>(info.model.vocab);
  m.hidden = static_cast<int>(info.model.hidden);
  m.heads = static_cast<int>(info.model.heads);
  m.layers = static_cast<int>(info.model.layers);
  m.ffn = static_cast<int>(info.model.ffn);
  m.max_positions = static_cast<int>(info.model.max_positions);
  const auto activation = parse_choice<Activation>(info.model.activation);
  if (!activation)
    fail("checkpoint '{}': /model activation '{}' is not one this build knows", path,
         info.model.activation);
  m.activation = *activation;
  m.layernorm_eps = info.model.layernorm_eps;
  const MeshShape one_rank;
  ParameterStore table =
      build_opt_parameters(ModelDims::from_config(m), one_rank, mesh_coords(one_rank, 0));
  ExtraStoresIn extra;
  for (const auto& [name, shapes] : info.extra) extra.emplace_back(name, &table);
  detail::check_against_model(info, config, table, extra);

  const h5::QuietErrors quiet_hdf5;
  h5::File file = h5::try_open_file(path, H5F_ACC_RDONLY);
  if (!file.valid()) fail("checkpoint '{}': cannot open it ({})", path, h5::error_message());
  std::vector<std::pair<std::string, const TensorShapes*>> groups = {{"params", &info.tensors}};
  for (const auto& [name, shapes] : info.extra) groups.emplace_back("optim/" + name, &shapes);
  for (const auto& [group, tensors] : groups) {
    std::int64_t non_finite = 0;
    std::uint64_t sum = 0;
    try {
      sum = group_checksum(file, group, *tensors, non_finite);
    } catch (const Error& e) {
      fail("checkpoint '{}': reading /{} failed: {}", path, group, e.what());
    }
    if (auto it = info.checksums.find(group); it != info.checksums.end() && it->second != sum)
      fail(
          "checkpoint '{}': the tensor data in /{} does not match the checksum recorded when it "
          "was written (a damaged or incomplete file)",
          path, group);
    if (non_finite > 0)
      fail("checkpoint '{}': /{} holds {} NaN/Inf value(s); it cannot be used to start a run", path,
           group, non_finite);
  }
  return info;
}

}  // namespace zoptimus

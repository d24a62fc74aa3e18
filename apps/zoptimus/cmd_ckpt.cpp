// `zoptimus ckpt info FILE`: what a checkpoint holds (rank 0 reads, every rank agrees on
// failures). `zoptimus ckpt replay` lives in cmd_ckpt_replay.cpp.
#include <mpi.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "core/log.hpp"
#include "io/checkpoint.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

namespace {

// Long text state (e.g. a serialised schedule) is cut for the listing.
std::string clip(const std::string& text, std::size_t width = 60) {
  return text.size() <= width ? text : text.substr(0, width) + "...";
}

void print_info(const CheckpointInfo& info) {
  const CheckpointModel& m = info.model;
  log::info("checkpoint: {}", info.path);
  log::info("format: {} version {}", kCheckpointFormat, info.format_version);
  log::info("step: {}", info.step);
  log::info("written on mesh: {}", info.mesh);
  log::info("written by: zoptimus {} (git {})", info.library_version, info.git_hash);
  log::info("created: {}", info.created);
  log::info(
      "model: vocab={} hidden={} heads={} layers={} ffn={} max_positions={} activation={} "
      "layernorm_eps={}",
      m.vocab, m.hidden, m.heads, m.layers, m.ffn, m.max_positions, m.activation, m.layernorm_eps);
  log::info("parameters: {} in {} tensors", info.parameter_count(), info.tensors.size());
  for (const auto& [name, shape] : info.tensors)
    log::info("  {:<28} [{}]", name, fmt::join(shape, ", "));
  if (info.optim_text.empty() && info.optim_reals.empty() && info.optim_integers.empty() &&
      info.extra.empty())
    log::info("optimizer state: none");
  for (const auto& [key, value] : info.optim_text)
    log::info("optimizer text {} = \"{}\"", key, clip(value));
  for (const auto& [key, values] : info.optim_reals)
    log::info("optimizer reals {} [{}]", key, values.size());
  for (const auto& [key, values] : info.optim_integers)
    log::info("optimizer integers {} [{}]", key, values.size());
  for (const auto& [name, shapes] : info.extra)
    log::info("optimizer store {}: {} tensors", name, shapes.size());
  std::size_t lines = 0;
  for (char c : info.deck) lines += c == '\n';
  log::info("deck (effective TOML, {} lines):", lines);
  std::size_t start = 0;
  while (start < info.deck.size()) {
    const std::size_t end = info.deck.find('\n', start);
    log::info("  | {}", info.deck.substr(start, end == std::string::npos ? end : end - start));
    start = end == std::string::npos ? info.deck.size() : end + 1;
  }
}

}  // namespace

int ckpt_replay(const std::vector<std::string>& args);

int run_ckpt(const std::string& action, const std::vector<std::string>& args) {
  if (action == "replay") return ckpt_replay(args);
  // --verify: the checks a restart makes (tensor table, checksums, finite values).
  std::vector<std::string> files;
  bool verify = false;
  for (const auto& a : args) {
    if (a == "--verify")
      verify = true;
    else
      files.push_back(a);
  }
  if (files.size() != 1)
    fail_on_all_ranks(MPI_COMM_WORLD,
                      fmt::format("zoptimus ckpt info: expected one checkpoint file, got {} "
                                  "arguments (zoptimus ckpt info [--verify] FILE.h5)",
                                  files.size()));
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  CheckpointInfo info;
  try {
    run_collectively(MPI_COMM_WORLD, [&] {
      if (rank == 0) info = verify ? verify_checkpoint(files[0]) : read_checkpoint_info(files[0]);
    });
  } catch (const AgreedError& e) {
    // Rank 0 read the file for everyone: the failure belongs to all ranks.
    fail_on_all_ranks(MPI_COMM_WORLD, e.what());
  }
  print_info(info);
  if (verify)
    log::info("verify: ok ({}; every tensor present, every value finite)",
              info.checksums.empty() ? "no checksum recorded in this file"
                                     : "tensor data matches the recorded checksums");
  return 0;
}

}  // namespace zoptimus::app

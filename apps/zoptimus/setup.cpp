// Shared start of every deck-driven subcommand: deck -> Config -> Mesh, agreed by all ranks.
#include <mpi.h>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "parallel/collective_guard.hpp"
#include "parallel/comm_backend.hpp"

namespace zoptimus::app {

namespace {

// The keys (or "section." prefixes) each deck-driven subcommand reads. A deck may hold more
// (one deck serves train, eval and bench), but an override names a key on purpose, so one
// the subcommand would ignore is an error.
std::vector<std::string> keys_used_by(const std::string& command) {
  const std::vector<std::string> model = {"model.", "parallel.", "data."};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), model.begin(), model.end());
    return more;
  };
  if (command == "eval") return with({"run.eval_batches", "run.eval_sequences", "io.restart"});
  if (command == "bench mesh") return {"model.", "parallel."};
  if (command == "bench forward") return with({"io.restart"});  // weights from a checkpoint
  if (command == "bench zo") return with({"optim.", "run.seed", "run.steps"});
  if (command == "bench ckpt") return with({"io.out_dir"});
  return {""};  // train: every key
}

void reject_unused_overrides(const std::string& command,
                             const std::vector<std::string>& overrides) {
  const std::vector<std::string> used = keys_used_by(command);
  for (const std::string& o : overrides) {
    const std::string key = o.substr(0, o.find('='));
    bool ok = false;
    for (const std::string& u : used)
      ok = ok || (u.empty() || u.back() == '.' ? key.rfind(u, 0) == 0 : key == u);
    if (!ok) {
      std::string list;
      for (const std::string& u : used)
        list += (list.empty() ? "" : ", ") + u + (u.back() == '.' ? "*" : "");
      fail("override '{}': zoptimus {} does not use {} (it reads {}); remove the override", o,
           command, key, list);
    }
  }
}

}  // namespace

RunSetup setup_run(const DeckArgs& args, const std::string& command) {
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  RunSetup setup;
  MeshShape shape;
  run_collectively(MPI_COMM_WORLD, [&] {
    setup.config = load_config(args.deck, args.overrides);
    reject_unused_overrides(command, args.overrides);
    shape = resolve_mesh_shape(setup.config.parallel, world_size);
    validate_partition(setup.config.model, setup.config.data.batch, shape);
    select_comm_backend(setup.config.parallel.collectives);  // refuse what this build lacks
  });
  setup.mesh = std::make_unique<Mesh>(MPI_COMM_WORLD, shape);
  log::info("zoptimus {} ({}) {}: deck {}, mesh {}", build_info::kVersion, build_info::kGitHash,
            command, args.deck, shape.describe());
  return setup;
}

}  // namespace zoptimus::app

// Shared start of every deck-driven subcommand: deck -> Config -> Mesh, agreed by all ranks.
#include <mpi.h>

#include "commands.hpp"
#include "core/build_info.hpp"
#include "core/log.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

RunSetup setup_run(const DeckArgs& args, const std::string& command) {
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  RunSetup setup;
  MeshShape shape;
  run_collectively(MPI_COMM_WORLD, [&] {
    setup.config = load_config(args.deck, args.overrides);
    shape = resolve_mesh_shape(setup.config.parallel, world_size);
    validate_partition(setup.config.model, setup.config.data.batch, shape);
  });
  setup.mesh = std::make_unique<Mesh>(MPI_COMM_WORLD, shape);
  log::info("zoptimus {} ({}) {}: deck {}, mesh {}", build_info::kVersion, build_info::kGitHash,
            command, args.deck, shape.describe());
  return setup;
}

}  // namespace zoptimus::app

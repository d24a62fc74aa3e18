// `zoptimus ckpt replay RUN_LOG.h5 --out FINAL.h5 [--base BASE.h5]`: rebuilds the fine-tuned
// weights from the run's initial weights and its logged trajectory (seeds, g, lr, LeZO
// subsets), MeZO's storage-efficient checkpoint. The update is element-wise, so the result
// is bit-identical to the trained weights on any mesh.
#include <mpi.h>

#include <filesystem>

#include <fmt/format.h>

#include "commands.hpp"
#include "core/log.hpp"
#include "io/checkpoint.hpp"
#include "io/run_log.hpp"
#include "io/run_log_reader.hpp"
#include "optim/replay.hpp"
#include "optim/step_seeds.hpp"
#include "parallel/collective_guard.hpp"
#include "train/model_session.hpp"

namespace zoptimus::app {

namespace {

struct ReplayArgs {
  std::string run_log, out, base;
};

ReplayArgs parse_replay_args(const std::vector<std::string>& args) {
  ReplayArgs r;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) {
      if (i + 1 >= args.size()) fail("ckpt replay: {} needs a value", name);
      return args[++i];
    };
    if (a == "--out")
      r.out = value("--out");
    else if (a == "--base")
      r.base = value("--base");
    else if (!a.empty() && a[0] == '-')
      fail(
          "ckpt replay: unknown option '{}' (usage: zoptimus ckpt replay RUN_LOG.h5 --out "
          "FINAL.h5 [--base BASE.h5])",
          a);
    else if (r.run_log.empty())
      r.run_log = a;
    else
      fail("ckpt replay: unexpected argument '{}'", a);
  }
  if (r.run_log.empty() || r.out.empty())
    fail("usage: zoptimus ckpt replay RUN_LOG.h5 --out FINAL.h5 [--base BASE.h5]");
  if (std::filesystem::exists(r.out)) fail("ckpt replay: {} exists; not overwriting it", r.out);
  return r;
}

// The deck the run used, re-targeted to this launch's ranks (replay is element-wise, so any
// mesh gives the same weights); replay reads no data.
Config deck_of(const std::string& run_log) {
  const std::string deck = read_run_log_deck(run_log);
  Config c = parse_config(
      deck, fmt::format("{} (deck)", run_log),
      {"parallel.q=0", "parallel.t=0", "parallel.dp=1", "parallel.pp=1", "data.path=\"\""});
  return c;
}

}  // namespace

int ckpt_replay(const std::vector<std::string>& raw) {
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  ReplayArgs args;
  Config config;
  MeshShape shape;
  std::vector<StepRecord> steps;
  run_collectively(MPI_COMM_WORLD, [&] {
    args = parse_replay_args(raw);
    config = deck_of(args.run_log);
    shape = resolve_mesh_shape(config.parallel, world_size);
    validate_partition(config.model, config.data.batch, shape);
    const std::uint64_t run_seed = static_cast<std::uint64_t>(config.run.seed);
    for (StepRecord& s : read_trajectory(args.run_log)) {
      // The log keeps the seed of perturbation 0; the others follow from run.seed.
      for (std::size_t p = 0; p < s.projected_grad.size(); ++p)
        s.seeds.push_back(perturbation_seed(run_seed, s.step, static_cast<int>(p)));
      if (!s.seeds.empty() && s.seeds[0] != s.seed)
        fail(
            "{}: step {} was logged with seed {} but the deck's run.seed gives {}; the log "
            "and its deck disagree",
            args.run_log, s.step, s.seed, s.seeds[0]);
      steps.push_back(std::move(s));
    }
    if (steps.empty()) fail("{}: the run log holds no steps", args.run_log);
  });
  Mesh mesh(MPI_COMM_WORLD, shape);
  ModelSession session(config, mesh);  // initial weights from model.seed
  const std::string base = !args.base.empty() ? args.base : config.io.restart;
  ReplayStart start;
  ParameterStore momentum;  // the base's momentum buffer, when it has one
  if (!base.empty()) {
    if (base == "latest")
      fail_on_all_ranks(MPI_COMM_WORLD,
                        "ckpt replay: the run restarted from \"latest\"; give "
                        "the checkpoint it started from with --base");
    const bool has_momentum = run_collectively(
        MPI_COMM_WORLD, [&] { return read_checkpoint_info(base).extra.count("momentum") > 0; });
    ExtraStoresIn extra;
    if (has_momentum && config.optim.momentum > 0) {
      for (const auto& t : session.model().params().tensors()) momentum.add(t);
      extra.emplace_back("momentum", &momentum);
      start.momentum = &momentum;
    }
    const CheckpointState st = read_checkpoint(base, session.model().params(), mesh, config, extra);
    if (st.step != steps.front().step)
      fail_on_all_ranks(MPI_COMM_WORLD,
                        fmt::format("ckpt replay: base {} is at step {} but the log starts at "
                                    "step {}",
                                    base, st.step, steps.front().step));
    // The run restored these from the base too (ZoOptimizer::restore).
    auto h = st.reals.find("sparse_thresholds");
    if (h != st.reals.end()) start.thresholds.assign(h->second.begin(), h->second.end());
  }
  replay_trajectory(config, mesh, session.model().params(), steps, start);
  CheckpointState st;
  st.step = steps.back().step + 1;
  st.text["replayed_from"] = args.run_log;
  write_checkpoint(args.out, session.model().params(), mesh, config, st);
  log::info("ckpt replay: {} steps ({} .. {}) from {}{} -> {}", steps.size(), steps.front().step,
            steps.back().step, args.run_log, base.empty() ? "" : " on base " + base, args.out);
  return 0;
}

}  // namespace zoptimus::app

// `zoptimus train DECK`: zeroth-order fine-tuning. The last line is machine-readable:
// `train: steps=<n> loss=<first>-><last> eval_loss=<float> time_s=<float>`.
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "commands.hpp"
#include "core/log.hpp"
#include "core/memory.hpp"
#include "core/workspace_registry.hpp"
#include "io/checkpoint.hpp"
#include "io/out_dir_lock.hpp"
#include "parallel/broadcast_string.hpp"
#include "parallel/collective_guard.hpp"
#include "train/trainer.hpp"

namespace zoptimus::app {

namespace {
// io.out_dir/run_<n>.h5 with the first n not taken, so a rerun never overwrites a log.
std::string next_run_log_path(const std::string& out_dir) {
  std::string path;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    for (int n = 0;; ++n) {
      path = fmt::format("{}/run_{}.h5", out_dir, n);
      if (!std::filesystem::exists(path)) break;
    }
  broadcast_string(path, 0, MPI_COMM_WORLD);
  return path;
}
}  // namespace

int run_train(const DeckArgs& args) {
  RunSetup setup = setup_run(args, "train");
  const Config& cfg = setup.config;
  if (cfg.run.steps == 0) return run_train_zero_steps(setup);
  // Output locations are checked before any work, not when the first file is written.
  run_collectively(MPI_COMM_WORLD, [&] {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != 0) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(cfg.io.out_dir, ec) && !fs::is_directory(cfg.io.out_dir, ec))
      fail("io.out_dir = '{}' is a file, expected a directory", cfg.io.out_dir);
    fs::create_directories(cfg.io.out_dir, ec);
    if (!fs::is_directory(cfg.io.out_dir, ec))
      fail("io.out_dir = '{}': cannot create the directory: {}", cfg.io.out_dir, ec.message());
    if (::access(cfg.io.out_dir.c_str(), W_OK | X_OK) != 0)
      fail("io.out_dir = '{}' is not writable", cfg.io.out_dir);
  });
  // The run owns io.out_dir (a lock naming it), and cleans what killed writers left there.
  setup.config.run_id = new_run_id(MPI_COMM_WORLD);
  const auto lock = run_collectively(MPI_COMM_WORLD, [&] {
    return std::make_unique<OutDirLock>(cfg.io.out_dir, cfg.run_id, MPI_COMM_WORLD);
  });
  remove_leftover_tmp_files(cfg.io.out_dir, MPI_COMM_WORLD);
  log::info("run {}: io.out_dir {}", cfg.run_id, cfg.io.out_dir);
  ModelSession session(cfg, *setup.mesh);
  log::info("data: {}", session.batches().describe());
  log::info(
      "model: {} parameters, {:.2f} MiB on this rank; optimizer {} (lr {}, eps {}, "
      "n_perturb {}, {} directions)",
      session.model().params().global_count(), session.model().params().local_bytes() / 1048576.0,
      choice_name(cfg.optim.method), cfg.optim.lr, cfg.optim.eps, cfg.optim.n_perturb,
      choice_name(cfg.optim.perturbation));
  Trainer trainer(cfg, session);
  const CheckpointSeries series(cfg.io.out_dir, cfg.io.keep);
  std::int64_t first_step = 0;
  if (!cfg.io.restart.empty()) {
    // Rank 0 lists the directory and tells the others, so all restart from the same file.
    std::string path = cfg.io.restart;
    if (path == "latest") {
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      path = rank == 0 ? series.latest() : std::string();
      broadcast_string(path, 0, MPI_COMM_WORLD);
    }
    if (path.empty())
      fail_on_all_ranks(MPI_COMM_WORLD,
                        fmt::format("io.restart = \"latest\" but {} holds no checkpoint "
                                    "(ckpt_<step>.h5)",
                                    cfg.io.out_dir));
    // Ask for the momentum buffer only when the file has one (an imported model has none).
    const CheckpointInfo info =
        run_collectively(MPI_COMM_WORLD, [&] { return read_checkpoint_info(path); });
    const bool has_momentum = info.extra.count("momentum") > 0;
    ExtraStoresIn extra;
    if (has_momentum) extra = trainer.optimizer().extra_stores_in();
    const CheckpointState st =
        read_checkpoint(path, session.model().params(), *setup.mesh, cfg, extra);
    trainer.optimizer().restore(st);
    first_step = st.step;
    log::info("restart: {} (step {}, written by {})", path, first_step,
              info.run_id.empty() ? "an unrecorded run" : "run " + info.run_id);
    if (first_step >= cfg.run.steps)
      fail_on_all_ranks(MPI_COMM_WORLD,
                        fmt::format("checkpoint {} is at step {}, run.steps = {}: nothing to do",
                                    path, first_step, cfg.run.steps));
  }
  check_checkpoint_owners(cfg.io.out_dir, cfg.io.restart.empty() ? -1 : first_step, cfg.run.steps,
                          cfg.io.overwrite, MPI_COMM_WORLD);
  std::unique_ptr<RunLog> run_log;
  if (cfg.io.run_log) {
    const std::string path = next_run_log_path(cfg.io.out_dir);
    run_log = run_collectively(MPI_COMM_WORLD, [&] {
      return std::make_unique<RunLog>(path, cfg, setup.mesh->shape().describe(), MPI_COMM_WORLD);
    });
    log::info("run log: {}", path);
  }
  const TrainSummary s = trainer.run(first_step, run_log.get(), &series);
  // Anderson's decisions are collective (the same on every rank): how many steps mixed.
  const AndersonMixer* anderson =
      cfg.optim.anderson.m > 0 ? trainer.optimizer().anderson() : nullptr;
  if (run_log) {
    // Memory figures: this rank's buffers as registered where they were allocated.
    const WorkspaceRegistry& ws = WorkspaceRegistry::process();
    const OffloadCounters off_counters =
        session.offload() ? session.offload()->counters() : OffloadCounters{};
    run_log->finish(
        session.stats(),
        {{"activation_bytes", double(ws.current(WorkspacePurpose::Activations))},
         {"summa_panel_bytes", double(ws.current(WorkspacePurpose::SummaPanels))},
         {"param_bytes", double(ws.current(WorkspacePurpose::Parameters))},
         {"zo_scratch_bytes", double(ws.current(WorkspacePurpose::ZoScratch))},
         {"offload_slot_bytes", double(ws.peak(WorkspacePurpose::OffloadSlots))},
         {"offload_host_param_bytes",
          double(ws.current(WorkspacePurpose::Parameters, MemoryPlace::Host))},
         {"offload_upload_bytes", double(off_counters.upload_bytes)},
         {"offload_writeback_bytes", double(off_counters.writeback_bytes)},
         {"device_peak_bytes", double(ws.peak_total())},
         {"train_seconds", s.seconds}},
        anderson ? run_log_attributes(anderson->stats()) : std::map<std::string, std::int64_t>{});
  }
  if (const OffloadPipeline* off = session.offload()) {
    const OffloadCounters& c = off->counters();
    log::info(
        "offload: slots={} slot_bytes={} layer_bytes={} uploaded={} written_back={} "
        "uploaded_per_step={:.0f} written_back_per_step={:.0f}",
        off->ring().slots(), off->ring().bytes() / off->ring().slots(), off->layer_bytes(),
        c.upload_bytes, c.writeback_bytes, double(c.upload_bytes) / std::max(s.steps, 1),
        double(c.writeback_bytes) / std::max(s.steps, 1));
  }
  if (anderson) log::info("anderson: m={} {}", cfg.optim.anderson.m, describe(anderson->stats()));
  if (s.skipped > 0) log::info("{} of {} steps skipped (non-finite loss)", s.skipped, s.steps);
  if (cfg.data.task == Task::Classification)
    log::info(
        "train: steps={} loss={:.6f}->{:.6f} eval_loss={:.6f} eval_accuracy={:.4f} "
        "time_s={:.3f}",
        s.steps, s.first_loss, s.last_loss, s.eval_loss, s.eval_accuracy, s.seconds);
  else
    log::info("train: steps={} loss={:.6f}->{:.6f} eval_loss={:.6f} time_s={:.3f}", s.steps,
              s.first_loss, s.last_loss, s.eval_loss, s.seconds);
  return 0;
}

}  // namespace zoptimus::app

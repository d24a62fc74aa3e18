// Crash-safety driver for tests/cli/ckpt_crash.py (one rank).
//   write DIR   writes checkpoint step 1, then rewrites step 2 forever (the test SIGKILLs it)
//   verify DIR  step 1 must load and equal its weights; step 2 must be absent or complete;
//               latest() must name the newest complete one
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "core/runtime.hpp"
#include "io/checkpoint.hpp"
#include "linalg/blas_handle.hpp"
#include "model/model_dims.hpp"

namespace {

using namespace zoptimus;

// About 5 M parameters (21 MB): large enough that a kill lands inside a write.
Config crash_config() {
  Config c;
  c.model.vocab = 8000;
  c.model.hidden = 256;
  c.model.heads = 8;
  c.model.layers = 4;
  c.model.ffn = 1024;
  c.model.max_positions = 64;
  c.effective_toml = "# crash test\n";
  return c;
}

ParameterStore make_store(const Config& c, const Mesh& mesh) {
  return build_opt_parameters(ModelDims::from_config(c.model), mesh.shape(), mesh.coords());
}

// The step's weights: a different seed per step, so a mix-up cannot pass.
ParameterStore weights_for(const Config& c, const Mesh& mesh, std::int64_t step) {
  ParameterStore p = make_store(c, mesh);
  p.initialize(static_cast<std::uint64_t>(100 + step), 0.02f);
  return p;
}

bool same(const ParameterStore& a, const ParameterStore& b) {
  for (const auto& t : a.tensors()) {
    auto x = Kokkos::create_mirror_view_and_copy(HostSpace(), a.data(t.id));
    auto y = Kokkos::create_mirror_view_and_copy(HostSpace(), b.data(t.id));
    if (std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

// Loads `path` and compares it with the weights of `step`; prints what it found.
bool check(const std::string& path, std::int64_t step, const Config& c, const Mesh& mesh) {
  try {
    ParameterStore loaded = make_store(c, mesh);
    const CheckpointState state = read_checkpoint(path, loaded, mesh, c);
    const bool ok = state.step == step && same(loaded, weights_for(c, mesh, step));
    std::printf("%s %s: step %lld, weights %s\n", ok ? "ok" : "BAD", path.c_str(),
                static_cast<long long>(state.step), ok ? "match" : "differ");
    return ok;
  } catch (const std::exception& e) {
    std::printf("BAD %s: %s\n", path.c_str(), e.what());
    return false;
  }
}

int run(const std::string& mode, const std::string& dir) {
  const Config c = crash_config();
  MeshShape shape;  // one rank
  Mesh mesh(MPI_COMM_WORLD, shape);
  CheckpointSeries series(dir, 10, MPI_COMM_WORLD);
  if (mode == "write") {
    std::printf("pid %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    CheckpointState state;
    state.step = 1;
    write_checkpoint(series.path_for(1), weights_for(c, mesh, 1), mesh, c, state);
    std::printf("wrote 1\n");
    std::fflush(stdout);
    const ParameterStore b = weights_for(c, mesh, 2);
    state.step = 2;
    for (;;) {
      write_checkpoint(series.path_for(2), b, mesh, c, state);
      std::printf("wrote 2\n");
      std::fflush(stdout);
    }
  }
  if (mode == "verify") {
    bool ok = check(series.path_for(1), 1, c, mesh);
    const std::string b = series.path_for(2);
    const bool b_exists = std::filesystem::exists(b);
    if (b_exists) ok = check(b, 2, c, mesh) && ok;
    const std::string want = b_exists ? b : series.path_for(1);
    const std::string latest = series.latest();
    std::printf("%s latest() = %s (expected %s); step 2 %s\n", latest == want ? "ok" : "BAD",
                latest.c_str(), want.c_str(), b_exists ? "complete" : "absent");
    return ok && latest == want ? 0 : 1;
  }
  std::fprintf(stderr, "usage: checkpoint_crash_driver write|verify DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  zoptimus::Runtime runtime(argc, argv);
  zoptimus::attach_blas(runtime.device());
  if (argc != 3) {
    std::fprintf(stderr, "usage: checkpoint_crash_driver write|verify DIR\n");
    return 2;
  }
  try {
    return run(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_crash_driver: %s\n", e.what());
    return 1;
  }
}

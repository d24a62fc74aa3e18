// Runtime: initialises MPI then Kokkos, finalises in reverse order (RAII, one per process).
#pragma once

namespace zoptimus {

class Runtime {
 public:
  // Initialises MPI (if not already) and Kokkos (consuming --kokkos-* arguments), sets the
  // logging rank and pins the host BLAS to one thread per rank unless the user asked for
  // more through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS.
  Runtime(int& argc, char**& argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }

 private:
  int world_rank_ = 0;
  int world_size_ = 1;
};

}  // namespace zoptimus

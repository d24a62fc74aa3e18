// Support for the MPI GPU tests (tests/gpu/): why no GPU can be used, the one skip line CTest
// recognises (SKIP_REGULAR_EXPRESSION "gpu-test: SKIPPED"), and device memory for the shared
// collective checks (tests/support/collectives_checks.hpp).
#pragma once

#include <cuda_runtime.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace zoptimus::test_support {

// Empty when this rank sees a CUDA device, else the reason it does not.
inline std::string no_gpu_reason() {
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(st);
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return "";
}

// Empty when every node has at least as many GPUs as ranks (NCCL needs one GPU per rank),
// else the reason; the same answer on every rank (collective over MPI_COMM_WORLD).
inline std::string one_gpu_per_rank_missing() {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int local = 1, gpus = 0;
  MPI_Comm_size(node, &local);
  MPI_Comm_free(&node);
  cudaGetDeviceCount(&gpus);
  int short_of[2] = {local > gpus ? 1 : 0, local - gpus}, worst[2] = {0, 0};
  MPI_Allreduce(short_of, worst, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (!worst[0]) return "";
  return "NCCL needs one GPU per rank: " + std::to_string(local) + " ranks on this node, " +
         std::to_string(gpus) + " GPU(s) visible";
}

// Prints the line CTest turns into a skip (rank 0 only), for GTEST_SKIP() << reason.
inline std::string skip_line(const std::string& reason) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::printf("gpu-test: SKIPPED: %s\n", reason.c_str());
  std::fflush(stdout);
  return reason;
}

// cudaMalloc'ed copies, freed with the Memory. Copies are synchronous (the device is idle
// before put returns and after get reads).
struct DeviceMemory {
  std::vector<void*> blocks;
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() {
    for (void* p : blocks) cudaFree(p);
  }
  template <class T>
  T* put(const std::vector<T>& v) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<std::size_t>(v.size(), 1) * sizeof(T)), cudaSuccess);
    blocks.push_back(p);
    EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return static_cast<T*>(p);
  }
  template <class T>
  std::vector<T> get(const T* p, std::size_t n) {
    std::vector<T> out(n);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(out.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }
};

}  // namespace zoptimus::test_support

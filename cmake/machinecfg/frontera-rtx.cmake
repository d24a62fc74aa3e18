# Build configuration for TACC Frontera, RTX nodes (4 x Quadro RTX 5000, Turing sm_75).
#   module load gcc/9.1.0 cuda/11.3 impi phdf5 cmake
#   cmake --preset frontera-rtx     (or: cmake -S . -B build -DCMAKE_PROJECT_INCLUDE=$PWD/cmake/machinecfg/frontera-rtx.cmake)
# Kokkos: an upstream install with CUDA (scripts/build-kokkos-cuda --arch TURING75), passed as
# -DKokkos_ROOT=...; the C++ compiler stays g++ (Kokkos code goes to nvcc_wrapper by itself,
# docs/gpu.md); NCCL through NCCL_ROOT.
set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type")
set(ZOPTIMUS_ENABLE_CUDA ON CACHE STRING "cuBLAS GEMMs and NCCL collectives")
set(ZOPTIMUS_NATIVE_ARCH OFF CACHE BOOL "nvcc_wrapper host-flag forwarding is untested")
set(CMAKE_CUDA_ARCHITECTURES 75 CACHE STRING "Quadro RTX 5000 (Turing)")
set(ZOPTIMUS_TEST_MAX_RANKS 4 CACHE STRING "one rank per GPU, 4 per node")
if(DEFINED ENV{TACC_HDF5_DIR})
  set(HDF5_ROOT "$ENV{TACC_HDF5_DIR}" CACHE PATH "Parallel HDF5 from the phdf5 module")
endif()

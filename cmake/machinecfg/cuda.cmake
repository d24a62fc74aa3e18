# A generic CUDA machine: Kokkos built with CUDA (scripts/build-kokkos-cuda; pass its prefix
# as -DKokkos_ROOT=...), cuBLAS and NCCL. The C++ compiler stays the host compiler: files
# that include Kokkos are compiled by Kokkos's nvcc_wrapper, the rest (toml++, CLI11, HDF5)
# by the host compiler (cmake/ZoptimusCudaSources.cmake, docs/gpu.md). The GPU architecture
# is the one Kokkos was built for (Kokkos_ARCH_*).
set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type")
set(ZOPTIMUS_ENABLE_CUDA ON CACHE STRING "cuBLAS GEMMs and NCCL collectives")
set(ZOPTIMUS_NATIVE_ARCH OFF CACHE BOOL "nvcc_wrapper host-flag forwarding is untested")
if(NOT Kokkos_ROOT AND DEFINED ENV{ZOPTIMUS_KOKKOS_CUDA_PREFIX})
  set(Kokkos_ROOT "$ENV{ZOPTIMUS_KOKKOS_CUDA_PREFIX}" CACHE PATH "Kokkos with CUDA")
endif()

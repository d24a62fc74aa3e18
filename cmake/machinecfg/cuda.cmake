# A generic CUDA machine: Kokkos built with CUDA (its nvcc_wrapper as CMAKE_CXX_COMPILER),
# cuBLAS and NCCL. Set CMAKE_CUDA_ARCHITECTURES for the GPU (e.g. 90 for H100).
set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type")
set(ZOPTIMUS_ENABLE_CUDA ON CACHE STRING "cuBLAS GEMMs and NCCL collectives")
set(ZOPTIMUS_NATIVE_ARCH OFF CACHE BOOL "nvcc_wrapper host-flag forwarding is untested")

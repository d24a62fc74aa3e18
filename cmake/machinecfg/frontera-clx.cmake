# Build configuration for TACC Frontera, Cascade Lake nodes (Xeon Platinum 8280).
# Included right after project() (CMAKE_PROJECT_INCLUDE) by the CMake preset "frontera-clx":
#   module load gcc/9.1.0 impi phdf5 cmake    (or: intel impi phdf5 mkl)
#   cmake --preset frontera-clx     (or: cmake -S . -B build -DCMAKE_PROJECT_INCLUDE=$PWD/cmake/machinecfg/frontera-clx.cmake)
# Kokkos: an upstream install with the OpenMP (or Serial) backend, found through Kokkos_ROOT
# (environment or -DKokkos_ROOT=...). Build on a compute node or pass the arch explicitly:
# the login nodes are the same CPU generation, so -march=cascadelake is safe everywhere.
set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type")
set(ZOPTIMUS_ENABLE_CUDA OFF CACHE STRING "No GPUs on CLX nodes")
set(ZOPTIMUS_NATIVE_ARCH OFF CACHE BOOL "Use the explicit Cascade Lake flags below")
if(NOT CMAKE_CXX_FLAGS MATCHES "-march")
  string(APPEND CMAKE_CXX_FLAGS " -march=cascadelake")  # AVX-512, same on login and compute nodes
endif()
set(ZOPTIMUS_TEST_MAX_RANKS 16 CACHE STRING "ctest on an idev node")
# phdf5's module sets TACC_HDF5_DIR; MKL's sets MKLROOT (FindBLAS picks it up with BLA_VENDOR).
if(DEFINED ENV{TACC_HDF5_DIR})
  set(HDF5_ROOT "$ENV{TACC_HDF5_DIR}" CACHE PATH "Parallel HDF5 from the phdf5 module")
endif()
if(DEFINED ENV{MKLROOT})
  set(BLA_VENDOR Intel10_64lp_seq CACHE STRING "Sequential MKL: one rank per core")
endif()

# All third-party dependencies, found the standard way (docs/design.md).
find_package(MPI REQUIRED COMPONENTS C CXX)

# Open MPI refuses to run as root or with more ranks than cores unless told; tests on
# laptops and CI containers need both. Set once here, used by every MPI test.
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _mpiexec_version
                ERROR_QUIET)
if(_mpiexec_version MATCHES "Open MPI|OpenRTE")
  set(ZOPTIMUS_MPI_FLAVOUR "Open MPI")
  set(MPIEXEC_PREFLAGS "--oversubscribe;--allow-run-as-root" CACHE STRING "" FORCE)
else()
  set(ZOPTIMUS_MPI_FLAVOUR "other")
endif()

include(ZoptimusKokkos)

set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "HDF5 found at ${HDF5_INCLUDE_DIRS} is serial; zoptimus needs parallel HDF5 "
    "(Debian: apt-get install libhdf5-openmpi-dev; clusters: module load phdf5)")
endif()
add_library(zoptimus_hdf5 INTERFACE)
add_library(zoptimus::hdf5 ALIAS zoptimus_hdf5)
target_include_directories(zoptimus_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(zoptimus_hdf5 INTERFACE ${HDF5_LIBRARIES})
target_compile_definitions(zoptimus_hdf5 INTERFACE ${HDF5_DEFINITIONS})

find_package(ZoptimusCBLAS REQUIRED)
find_package(Random123 REQUIRED)
find_package(tomlplusplus 3 REQUIRED)
find_package(CLI11 2 REQUIRED)
find_package(fmt REQUIRED)

# CUDA backend: cuBLAS for GEMMs. AUTO turns it on only when a toolkit is present and
# Kokkos itself was built with CUDA.
set(ZOPTIMUS_HAVE_CUDA OFF)
if(NOT ZOPTIMUS_ENABLE_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND AND ZOPTIMUS_KOKKOS_HAS_CUDA)
    set(ZOPTIMUS_HAVE_CUDA ON)
  elseif(ZOPTIMUS_ENABLE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ZOPTIMUS_ENABLE_CUDA=ON needs the CUDA toolkit (found: "
                        "${CUDAToolkit_FOUND}) and a Kokkos built with CUDA (Kokkos devices: "
                        "${ZOPTIMUS_KOKKOS_DEVICES})")
  endif()
endif()

# NCCL collectives backend (parallel.collectives = "nccl"), CUDA builds only. AUTO turns it
# on when NCCL is found (beside the toolkit or under $NCCL_ROOT); a CPU build never looks.
set(ZOPTIMUS_HAVE_NCCL OFF)
if(ZOPTIMUS_HAVE_CUDA AND NOT ZOPTIMUS_ENABLE_NCCL STREQUAL "OFF")
  find_library(ZOPTIMUS_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ENV NCCL_ROOT
               PATH_SUFFIXES lib lib64)
  find_path(ZOPTIMUS_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV NCCL_ROOT
            PATH_SUFFIXES include)
  if(ZOPTIMUS_NCCL_LIBRARY AND ZOPTIMUS_NCCL_INCLUDE)
    set(ZOPTIMUS_HAVE_NCCL ON)
  elseif(ZOPTIMUS_ENABLE_NCCL STREQUAL "ON")
    message(FATAL_ERROR "ZOPTIMUS_ENABLE_NCCL=ON needs NCCL (library: "
                        "${ZOPTIMUS_NCCL_LIBRARY}, nccl.h: ${ZOPTIMUS_NCCL_INCLUDE}); set "
                        "NCCL_ROOT or ZOPTIMUS_ENABLE_NCCL=OFF")
  endif()
elseif(ZOPTIMUS_ENABLE_NCCL STREQUAL "ON" AND NOT ZOPTIMUS_HAVE_CUDA)
  message(FATAL_ERROR "ZOPTIMUS_ENABLE_NCCL=ON needs a CUDA build (ZOPTIMUS_ENABLE_CUDA)")
endif()

# Finds Kokkos and exposes it as the one target zoptimus::kokkos.
#
# Upstream Kokkos (>= 4, clusters) exports Kokkos::kokkos with correct usage requirements.
# Debian's libtrilinos-kokkos-dev (Kokkos 3.4.1 inside Trilinos 13) also defines a
# Kokkos::kokkos, but its include directory is computed one level too shallow
# (<prefix>/lib/include), and trilinos_kokkoscore carries none at all. For that flavour we
# use the Trilinos library targets with Kokkos_INCLUDE_DIRS, here in one place.
find_package(Kokkos CONFIG REQUIRED)
set(ZOPTIMUS_KOKKOS_SPLIT_COMPILERS OFF)

add_library(zoptimus_kokkos INTERFACE)
add_library(zoptimus::kokkos ALIAS zoptimus_kokkos)

if(TARGET trilinos_kokkoscore)
  if(NOT Kokkos_INCLUDE_DIRS)
    message(FATAL_ERROR "Trilinos Kokkos found but Kokkos_INCLUDE_DIRS is empty")
  endif()
  get_filename_component(_kokkos_inc "${Kokkos_INCLUDE_DIRS}" ABSOLUTE)
  if(NOT EXISTS "${_kokkos_inc}/Kokkos_Core.hpp")
    message(FATAL_ERROR "Kokkos_Core.hpp not found under ${_kokkos_inc}")
  endif()
  target_include_directories(zoptimus_kokkos SYSTEM INTERFACE "${_kokkos_inc}")
  target_link_libraries(zoptimus_kokkos INTERFACE trilinos_kokkoscontainers trilinos_kokkoscore)
  set(ZOPTIMUS_KOKKOS_FLAVOUR "trilinos")
elseif(TARGET Kokkos::kokkos AND Kokkos_ENABLE_CUDA AND NOT CMAKE_CXX_COMPILER MATCHES "nvcc_wrapper")
  # Kokkos with CUDA and the host compiler as CMAKE_CXX_COMPILER: only files that include
  # Kokkos are compiled by nvcc_wrapper (cmake/ZoptimusCudaSources.cmake gives them Kokkos's
  # compile flags); the rest, toml++ and CLI11 included, by the host compiler. So the
  # targets get Kokkos's headers and libraries here, not its nvcc-only compile flags.
  get_target_property(_kokkos_inc Kokkos::kokkoscore INTERFACE_INCLUDE_DIRECTORIES)
  target_include_directories(zoptimus_kokkos SYSTEM INTERFACE ${_kokkos_inc})
  target_link_libraries(zoptimus_kokkos INTERFACE $<LINK_ONLY:Kokkos::kokkos>)
  target_compile_features(zoptimus_kokkos INTERFACE cxx_std_17)
  set(ZOPTIMUS_KOKKOS_FLAVOUR "upstream, device code through nvcc_wrapper")
  set(ZOPTIMUS_KOKKOS_SPLIT_COMPILERS ON)
elseif(TARGET Kokkos::kokkos AND Kokkos_ENABLE_CUDA)
  message(FATAL_ERROR
    "CMAKE_CXX_COMPILER is nvcc_wrapper: toml++'s headers (deck parsing) do not compile under "
    "nvcc. Configure with the host compiler (e.g. -DCMAKE_CXX_COMPILER=g++, the default); "
    "files that include Kokkos are sent to ${Kokkos_CXX_COMPILER} automatically (docs/gpu.md)")
elseif(TARGET Kokkos::kokkos)
  target_link_libraries(zoptimus_kokkos INTERFACE Kokkos::kokkos)
  set(ZOPTIMUS_KOKKOS_FLAVOUR "upstream")
else()
  message(FATAL_ERROR "find_package(Kokkos) succeeded but defines neither Kokkos::kokkos "
                      "nor trilinos_kokkoscore; set Kokkos_ROOT to an upstream install")
endif()

set(ZOPTIMUS_KOKKOS_DEVICES "${Kokkos_DEVICES}")
if(Kokkos_VERSION)
  set(ZOPTIMUS_KOKKOS_VERSION "${Kokkos_VERSION}")
else()
  set(ZOPTIMUS_KOKKOS_VERSION "unknown")
endif()
if("${Kokkos_DEVICES}" MATCHES "CUDA" OR Kokkos_ENABLE_CUDA)
  set(ZOPTIMUS_KOKKOS_HAS_CUDA ON)
else()
  set(ZOPTIMUS_KOKKOS_HAS_CUDA OFF)
endif()

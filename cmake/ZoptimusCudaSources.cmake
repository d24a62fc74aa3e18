# Per-file compiler choice for a CUDA build whose CMAKE_CXX_COMPILER is the host compiler.
#
# A source file that includes a Kokkos header, directly or through the project's own
# headers, holds Kokkos code and is compiled by nvcc_wrapper: it gets Kokkos's own compile
# flags (KOKKOS_DEPENDENCE, -extended-lambda, -arch=sm_XX) as source properties, and the
# kokkos_launch_compiler rule that find_package(Kokkos) installs redirects every compile
# line carrying KOKKOS_DEPENDENCE to nvcc_wrapper. Every other file (deck parsing with
# toml++, whose headers nvcc rejects; CLI11; HDF5 io; MPI-only code) is compiled by the host
# compiler. The choice follows the includes, so new files and folders need no edit here.
#
# zoptimus_route_kokkos_sources() is called once, after every target has been declared.

set(_zoptimus_include_roots ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests
                            ${PROJECT_SOURCE_DIR}/apps)

# Sets <out> to TRUE when <file> includes a Kokkos header, directly or through a quoted
# include found beside it or under one of the include roots. Results are memoised.
function(_zoptimus_includes_kokkos file out)
  string(MAKE_C_IDENTIFIER "_zoptimus_kokkos_${file}" key)
  get_property(known GLOBAL PROPERTY ${key} SET)
  if(known)
    get_property(result GLOBAL PROPERTY ${key})
    set(${out} ${result} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY ${key} FALSE)  # guards include cycles
  set(result FALSE)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  get_filename_component(dir "${file}" DIRECTORY)
  foreach(line IN LISTS lines)
    if(line MATCHES "<(impl/)?Kokkos_[A-Za-z_]+\\.hpp>")
      set(result TRUE)
      break()
    endif()
    if(line MATCHES "\"([^\"]+)\"")
      set(header "${CMAKE_MATCH_1}")
      foreach(root IN ITEMS ${dir} ${_zoptimus_include_roots})
        if(EXISTS "${root}/${header}" AND NOT IS_DIRECTORY "${root}/${header}")
          _zoptimus_includes_kokkos("${root}/${header}" nested)
          if(nested)
            set(result TRUE)
          endif()
          break()
        endif()
      endforeach()
      if(result)
        break()
      endif()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY ${key} ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(_zoptimus_collect_targets dir out)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _zoptimus_collect_targets("${sub}" nested)
    list(APPEND targets ${nested})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(zoptimus_route_kokkos_sources)
  get_target_property(kokkos_defs Kokkos::kokkoscore INTERFACE_COMPILE_DEFINITIONS)
  get_target_property(kokkos_opts Kokkos::kokkoscore INTERFACE_COMPILE_OPTIONS)
  if(NOT kokkos_defs MATCHES "KOKKOS_DEPENDENCE")
    message(FATAL_ERROR "Kokkos::kokkoscore does not carry KOKKOS_DEPENDENCE; cannot route "
                        "Kokkos sources to nvcc_wrapper")
  endif()
  _zoptimus_collect_targets("${PROJECT_SOURCE_DIR}" targets)
  set(device 0)
  set(host 0)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY|MODULE_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    get_target_property(sources ${target} SOURCES)
    get_target_property(source_dir ${target} SOURCE_DIR)
    foreach(src IN LISTS sources)
      if(NOT src MATCHES "\\.(cpp|cc|cxx)$")
        continue()
      endif()
      get_filename_component(path "${src}" ABSOLUTE BASE_DIR "${source_dir}")
      _zoptimus_includes_kokkos("${path}" uses_kokkos)
      if(uses_kokkos)
        # The same rule as ZoptimusCompilerFlags' -ffp-contract=off for the device side.
        set_property(SOURCE "${path}" TARGET_DIRECTORY ${target} PROPERTY COMPILE_DEFINITIONS
                     ${kokkos_defs})
        set_property(SOURCE "${path}" TARGET_DIRECTORY ${target} PROPERTY COMPILE_OPTIONS
                     ${kokkos_opts} --fmad=false)
        math(EXPR device "${device} + 1")
      else()
        math(EXPR host "${host} + 1")
      endif()
    endforeach()
  endforeach()
  set(ZOPTIMUS_CUDA_DEVICE_SOURCES ${device} PARENT_SCOPE)
  set(ZOPTIMUS_CUDA_HOST_SOURCES ${host} PARENT_SCOPE)
  message(STATUS "CUDA build: ${device} source files through nvcc_wrapper (Kokkos code), "
                 "${host} through ${CMAKE_CXX_COMPILER} (host-only)")
endfunction()

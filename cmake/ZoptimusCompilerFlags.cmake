# Code generation flags for every zoptimus target.
#
# Reproducible floating point: no a*b+c contraction, so the Gaussian generator (and every
# other kernel) gives the same bits whatever SIMD width the compiler picks — a replay or a
# restart on another machine regenerates exactly the directions of the original run.
# -fno-math-errno lets sqrt vectorize (zoptimus never reads errno).
include(CheckCXXCompilerFlag)

add_compile_options($<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU,Clang>>:-ffp-contract=off>
                    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU,Clang>>:-fno-math-errno>)
if(ZOPTIMUS_HAVE_CUDA AND CMAKE_CXX_COMPILER MATCHES "nvcc_wrapper")
  add_compile_options(--fmad=false)  # the device side of the same rule
endif()

# Tune for the build host's vector units (AVX-512 roughly halves the ZO step's generation
# cost against SSE2, docs/performance.md). Turn off for a binary that must run on older CPUs
# than the one it is built on (e.g. a login node newer than the compute nodes).
set(_native_default ON)
if(ZOPTIMUS_HAVE_CUDA)
  set(_native_default OFF)  # nvcc_wrapper host-flag forwarding is untested
endif()
option(ZOPTIMUS_NATIVE_ARCH "Compile with -march=native" ${_native_default})
set(ZOPTIMUS_ARCH_FLAGS "")
if(ZOPTIMUS_NATIVE_ARCH)
  check_cxx_compiler_flag(-march=native ZOPTIMUS_COMPILER_HAS_MARCH_NATIVE)
  if(ZOPTIMUS_COMPILER_HAS_MARCH_NATIVE)
    set(ZOPTIMUS_ARCH_FLAGS "-march=native")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endif()

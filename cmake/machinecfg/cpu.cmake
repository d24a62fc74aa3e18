# A workstation or a generic CPU cluster: Debian/Ubuntu packages (scripts/setup) or modules,
# tuned for the build host (-march=native).
set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type")
set(ZOPTIMUS_ENABLE_CUDA OFF CACHE STRING "CPU only")

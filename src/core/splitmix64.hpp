// splitmix64: a cheap, well-mixed, platform-independent 64-bit hash step (Steele, Lea and
// Flood's SplitMix finaliser). Seeds and synthetic data are derived with it.
#pragma once

#include <cstdint>

namespace zoptimus {

constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace zoptimus

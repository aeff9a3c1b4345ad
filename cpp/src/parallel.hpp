#pragma once
// Internal: how many threads a kernel of a given size should use.
#include <cstdint>

#include "lamina/runtime.hpp"

namespace lamina {

// Elementwise work below this many elements runs on one thread: forking threads costs more.
constexpr int64_t kParallelElements = 1 << 15;

// Threads for `work` units of work (elements, or multiply-adds for GEMM) with `grain` the smallest
// amount worth a thread.
inline int threads_for(int64_t work, int64_t grain = kParallelElements) {
  if (work < 2 * grain) return 1;
  int n = get_num_threads();
  int64_t cap = work / grain;
  return cap < n ? static_cast<int>(cap) : n;
}

}  // namespace lamina

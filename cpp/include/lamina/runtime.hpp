#pragma once
// Process-wide settings: the thread count lamina's kernels use, the global random seed, and the
// counters behind automatic names.
#include <cstdint>
#include <string>

#include "lamina/export.hpp"

namespace lamina {

// Threads used by lamina's parallel kernels (OpenMP regions and Eigen GEMM). lamina keeps this count
// itself: another library in the process calling omp_set_num_threads() (torch does) does not change it.
// Default: the number of cores (or OMP_NUM_THREADS when set). n < 1 throws std::invalid_argument.
LAMINA_API void set_num_threads(int n);
LAMINA_API int get_num_threads();

// Seeds the global generator used by random ops called without an explicit seed.
LAMINA_API void set_random_seed(uint64_t seed);
// Next seed drawn from the global generator (used by random ops when seed < 0).
LAMINA_API uint64_t next_random_seed();

// Keras's automatic names: `prefix` the first time in the process, then `prefix_1`, `prefix_2`, ...
// One counter per prefix, shared by the C++ layers and the Python package; thread-safe.
LAMINA_API std::string unique_name(const std::string& prefix);
// Forgets every name handed out (keras.utils.clear_session): the next `dense` is `dense` again.
LAMINA_API void reset_unique_names();

// Frees the buffers kept by the caching allocator (memory in use is not touched).
LAMINA_API void empty_cache();
// Bytes currently held in the allocator's cache (free for reuse) and in live tensors.
LAMINA_API int64_t cached_bytes();
LAMINA_API int64_t allocated_bytes();

}  // namespace lamina

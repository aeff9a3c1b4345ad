#include "allocator.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "lamina/runtime.hpp"

namespace lamina {
namespace {

constexpr size_t kAlign = 64;
// The cache never holds more than this; beyond it, freed blocks go back to the system.
constexpr size_t kMaxCached = size_t(1) << 30;

// Rounds a request up so that close sizes share a bucket: multiples of 64 bytes up to 4 KiB, then
// 8 steps per power of two (at most 12.5% waste).
size_t round_size(size_t n) {
  if (n == 0) n = 1;
  if (n <= 4096) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = size_t(1) << (63 - __builtin_clzll(n));  // highest power of two <= n
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  size_t cached = 0;
  std::atomic<int64_t> in_use{0};

  ~Cache() { clear(); }
  void clear() {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& kv : free_blocks)
      for (void* p : kv.second) std::free(p);
    free_blocks.clear();
    cached = 0;
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: storages may outlive static destruction
  return *c;
}

}  // namespace

namespace allocator {

void* allocate(size_t nbytes) {
  size_t size = round_size(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      c.in_use += static_cast<int64_t>(size);
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, size);
  if (!p) {
    empty_cache();
    p = std::aligned_alloc(kAlign, size);
    if (!p) throw std::bad_alloc();
  }
  c.in_use += static_cast<int64_t>(size);
  return p;
}

void release(void* ptr, size_t nbytes) {
  if (!ptr) return;
  size_t size = round_size(nbytes);
  Cache& c = cache();
  c.in_use -= static_cast<int64_t>(size);
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + size <= kMaxCached) {
      c.free_blocks[size].push_back(ptr);
      c.cached += size;
      return;
    }
  }
  std::free(ptr);
}

}  // namespace allocator

void empty_cache() { cache().clear(); }

int64_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return static_cast<int64_t>(c.cached);
}

int64_t allocated_bytes() { return cache().in_use.load(); }

}  // namespace lamina

#include "lamina/runtime.hpp"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace lamina {
namespace {

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

std::atomic<int>& thread_count() {
  static std::atomic<int> n{default_threads()};
  return n;
}

std::mutex seed_mu;
std::mt19937_64& seed_gen() {
  static std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("set_num_threads: expected a positive thread count, got " +
                                std::to_string(n));
  thread_count() = n;
}

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_random_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(seed_mu);
  seed_gen().seed(seed);
}

uint64_t next_random_seed() {
  std::lock_guard<std::mutex> lock(seed_mu);
  return seed_gen()();
}

namespace {
std::mutex names_mu;
std::map<std::string, int64_t>& name_counters() {
  static std::map<std::string, int64_t> counters;
  return counters;
}
}  // namespace

std::string unique_name(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(names_mu);
  const int64_t n = name_counters()[prefix]++;
  return n == 0 ? prefix : prefix + "_" + std::to_string(n);
}

void reset_unique_names() {
  std::lock_guard<std::mutex> lock(names_mu);
  name_counters().clear();
}

}  // namespace lamina

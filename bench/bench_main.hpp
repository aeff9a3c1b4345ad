#pragma once
// The main() shared by lamina's Google Benchmark executables: 2 threads by default
// (LAMINA_NUM_THREADS or --threads=N to change), then every benchmark `register_all` registers.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <lamina/lamina.hpp>

namespace lamina_bench {

// Positive int from a string, or -1.
inline int parse_threads(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return (end != s && *end == '\0' && v >= 1 && v <= 1024) ? static_cast<int>(v) : -1;
}

inline int run(int argc, char** argv, const char* program, void (*register_all)()) {
  int threads = 2;
  if (const char* env = std::getenv("LAMINA_NUM_THREADS")) {
    threads = parse_threads(env);
    if (threads < 0) {
      std::cerr << program << ": LAMINA_NUM_THREADS must be a positive integer, got '" << env << "'\n";
      return 2;
    }
  }
  // Take --threads=N out of argv before Google Benchmark sees (and rejects) it.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = parse_threads(argv[i] + 10);
      if (threads < 0) {
        std::cerr << program << ": --threads expects a positive integer, got '" << argv[i] + 10 << "'\n";
        return 2;
      }
      continue;
    }
    args.push_back(argv[i]);
  }
  int nargs = static_cast<int>(args.size());
  lamina::set_num_threads(threads);
  benchmark::AddCustomContext("lamina_threads", std::to_string(lamina::get_num_threads()));
  register_all();
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace lamina_bench

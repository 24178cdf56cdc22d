#include "edgeclas/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/resource.h>

namespace edgeclas {

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

LatencyStats ComputeStats(const std::vector<double>& s) {
  LatencyStats r;
  r.count = s.size();
  if (s.empty()) return r;
  r.min = *std::min_element(s.begin(), s.end());
  r.max = *std::max_element(s.begin(), s.end());
  double sum = 0;
  for (double x : s) sum += x;
  r.mean = sum / s.size();
  double var = 0;
  for (double x : s) var += (x - r.mean) * (x - r.mean);
  // Sample standard deviation (n-1), the convention of edgeclas.bench.stats and every report.
  r.std = s.size() > 1 ? std::sqrt(var / (s.size() - 1)) : 0.0;
  r.p50 = Percentile(s, 50);
  r.p90 = Percentile(s, 90);
  r.p99 = Percentile(s, 99);
  return r;
}

long PeakRssKb() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = 0;
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtol(line + 6, nullptr, 10);
    std::fclose(f);
    if (kb > 0) return kb;
  }
  struct rusage ru {};
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;  // KiB on Linux and Android
}

int ProcessThreads() {
  int n = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "Threads:", 8) == 0) n = static_cast<int>(std::strtol(line + 8, nullptr, 10));
    std::fclose(f);
  }
  return n;
}

}  // namespace edgeclas

// Latency statistics in milliseconds (population std; percentiles interpolated like numpy's default).
#pragma once

#include <cstddef>
#include <vector>

namespace edgeclas {

struct LatencyStats {
  double min = 0, max = 0, mean = 0, std = 0, p50 = 0, p90 = 0, p99 = 0;
  size_t count = 0;
};

LatencyStats ComputeStats(const std::vector<double>& samples_ms);
double Percentile(std::vector<double> samples, double q);  // q in [0, 100]

// Peak resident set size of this process in KiB (VmHWM, else getrusage), 0 if unknown.
long PeakRssKb();

// OS threads of this process now ("Threads:" in /proc/self/status), 0 if unknown.
int ProcessThreads();

}  // namespace edgeclas

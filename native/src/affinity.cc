#include "edgeclas/affinity.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace edgeclas {
namespace {

long ReadLong(const std::string& path) {
  std::ifstream f(path);
  long v = -1;
  if (f >> v) return v;
  return -1;
}

// "0-3,6" -> {0,1,2,3,6}
std::vector<int> ParseCpuList(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int a = 0, b = 0;
    if (std::sscanf(part.c_str(), "%d-%d", &a, &b) == 2) {
      for (int c = a; c <= b; ++c) cpus.push_back(c);
    } else if (std::sscanf(part.c_str(), "%d", &a) == 1) {
      cpus.push_back(a);
    }
  }
  return cpus;
}

}  // namespace

std::vector<int> ChooseCpus(const std::vector<long>& freq, const std::vector<int>& online, int power_mode,
                            std::string* note) {
  if (online.empty()) return *note = "no online CPU list", std::vector<int>{};
  if (power_mode == 2) return online;
  long hi = -1, lo = -1;
  for (int c : online) {
    const long f = c < static_cast<int>(freq.size()) ? freq[c] : -1;
    if (f <= 0) {
      *note = "cpu" + std::to_string(c) + " has no cpufreq/cpuinfo_max_freq: clusters unknown";
      return {};
    }
    hi = std::max(hi, f);
    lo = lo < 0 ? f : std::min(lo, f);
  }
  const long want = power_mode == 0 ? hi : lo;
  std::vector<int> cpus;
  for (int c : online)
    if (freq[c] == want) cpus.push_back(c);
  if (hi == lo) *note = "all CPUs have the same max frequency (one cluster)";
  return cpus;
}

Affinity ApplyPowerMode(int power_mode, const std::string& root) {
  Affinity a;
  a.power_mode = power_mode;
  std::vector<int> online;
  {
    std::ifstream f(root + "/online");
    std::string text;
    if (f >> text) online = ParseCpuList(text);
  }
  cpu_set_t current;
  CPU_ZERO(&current);
  if (online.empty() && sched_getaffinity(0, sizeof current, &current) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &current)) online.push_back(c);
  if (power_mode == 3) {
    a.cpus = online;
    a.note = "no binding requested";
    return a;
  }
  int max_cpu = online.empty() ? 0 : *std::max_element(online.begin(), online.end());
  std::vector<long> freq(max_cpu + 1, -1);
  for (int c : online) freq[c] = ReadLong(root + "/cpu" + std::to_string(c) + "/cpufreq/cpuinfo_max_freq");
  std::string note;
  std::vector<int> cpus = ChooseCpus(freq, online, power_mode, &note);
  if (cpus.empty()) {
    a.cpus = online;
    a.note = note + "; threads not bound";
    return a;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  // Bind the calling thread before the engine creates its pool: new threads inherit the mask.
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    a.cpus = online;
    a.note = std::string("sched_setaffinity failed: ") + std::strerror(errno) + "; threads not bound";
    return a;
  }
  a.cpus = cpus;
  a.applied = true;
  a.note = note;
  return a;
}

}  // namespace edgeclas

// Thread placement for power_mode (Paddle Lite numbering): 0 big cluster, 1 little cluster, 2 all cores,
// 3 no binding. Clusters come from /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq.
#pragma once

#include <string>
#include <vector>

namespace edgeclas {

struct Affinity {
  int power_mode = 3;
  std::vector<int> cpus;  // the CPUs the process is bound to (or may run on when not bound)
  bool applied = false;
  std::string note;
};

// Pure: choose CPUs from per-CPU max frequencies (kHz; <= 0 means unknown) for a power mode.
// Returns an empty list when the choice cannot be made (note says why).
std::vector<int> ChooseCpus(const std::vector<long>& max_freq_khz, const std::vector<int>& online, int power_mode,
                            std::string* note);

// Reads sysfs, binds the calling thread (threads created afterwards inherit it) and reports what happened.
// Never fails: when binding is impossible the note says so.
Affinity ApplyPowerMode(int power_mode, const std::string& sysfs_cpu_root = "/sys/devices/system/cpu");

}  // namespace edgeclas

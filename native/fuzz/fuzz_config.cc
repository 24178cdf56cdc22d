// Fuzz target: clas_system's config parser. Any input must give a Config or an error Status naming the
// source; a valid Config must describe itself (SettingsInEffect) and keep the normalisation finite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgeclas/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgeclas::Config c;
  std::vector<std::string> warnings;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const edgeclas::Status st = edgeclas::ParseConfig(text, "fuzz.txt", &c, &warnings);
  if (!st.ok()) {
    if (st.message().rfind("fuzz.txt", 0) != 0) __builtin_trap();  // every error names the file
    return 0;
  }
  (void)edgeclas::SettingsInEffect(c, c.ignored);
  for (int ch = 0; ch < 3; ++ch) {
    const float a = c.scale / c.std[ch], b = -c.mean[ch] / c.std[ch];
    if (!std::isfinite(255.0f * std::fabs(a) + std::fabs(b))) __builtin_trap();  // the check let it through
  }
  if (c.crop_size > c.resize_short_size || c.num_threads < 1 || c.repeats < 1) __builtin_trap();
  return 0;
}

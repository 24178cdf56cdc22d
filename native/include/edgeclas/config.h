// clas_system configuration: PaddleClas deploy/lite `config.txt` ("key value" lines) plus edgeclas keys.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "edgeclas/status.h"

namespace edgeclas {

enum class OutputFormat { kText, kJson };

// A setting that was read but does not take effect in this run, and why. clas_system prints it as
// ignored (a warning with the reason) and never among the settings in effect.
struct IgnoredSetting {
  std::string key;
  std::string value;
  std::string reason;
};

struct Config {
  // PaddleClas deploy/lite keys (accepted unchanged).
  std::string clas_model_file;
  std::string label_path;
  int resize_short_size = 256;
  int crop_size = 224;
  bool visualize = false;
  int num_threads = 1;
  int batch_size = 1;
  std::string precision = "FP32";  // FP32 | FP16 | INT8 (any case in the file); the engine decides if it can
  std::string runtime_device = "arm_cpu";
  bool enable_benchmark = false;  // PaddleClas's benchmark: 1000 runs per image, the first 10 untimed
  bool tipc_benchmark = false;
  // edgeclas keys.
  std::string engine;  // empty: the engine this binary was built with
  int power_mode = 0;  // 0 big cores, 1 little cores, 2 all cores, 3 no binding (Paddle Lite numbering)
  int topk = 5;
  int warmup = 0;
  int repeats = 1;
  int decode_threads = 0;  // threads decoding + preprocessing ahead of inference; 0: one per CPU in use
  OutputFormat output = OutputFormat::kText;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  float scale = 1.0f / 255.0f;
  std::string channel_order = "RGB";

  // Where the config came from: relative file paths in it are resolved against its directory.
  std::string source = "<config>";
  std::string base_dir;
  // Settings read but not honoured whatever the engine (batch_size > 1, visualize 1, …), with the reason.
  std::vector<IgnoredSetting> ignored;
};

// One "key value" line per setting; '#' starts a comment; blank lines are ignored. Unknown keys are
// warnings (naming the key and line), bad values are errors naming the key and line.
Status ParseConfig(const std::string& text, const std::string& source, Config* cfg,
                   std::vector<std::string>* warnings);
Status LoadConfigFile(const std::string& path, Config* cfg, std::vector<std::string>* warnings);

// A path from the config: as given when it exists (PaddleClas behaviour: relative to the working
// directory), else relative to the config file's directory.
std::string ResolveConfigPath(const Config& cfg, const std::string& path);

// "key value" lines describing every setting in effect (printed first by clas_system): all but the
// `ignored` ones (cfg.ignored plus what the engine ignores, EngineIgnoredSettings).
std::vector<std::pair<std::string, std::string>> SettingsInEffect(const Config& cfg,
                                                                   const std::vector<IgnoredSetting>& ignored);

// "config.txt: precision FP16 ignored: <reason>", the warning clas_system prints for an ignored setting.
std::string IgnoredText(const Config& cfg, const IgnoredSetting& ignored);

}  // namespace edgeclas

// clas_system configuration: PaddleClas deploy/lite `config.txt` ("key value" lines) plus edgeclas keys.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "edgeclas/status.h"

namespace edgeclas {

enum class OutputFormat { kText, kJson };

// How scores become the answer: PaddleClas's Infer.PostProcess names (see postprocess.h).
enum class PostProcessKind { kTopk, kThreshOutput, kMultiLabel };

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
  // Images per inference (1..64: each image of a batch in flight holds 3 x crop x crop floats).
  int batch_size = 1;
  std::string precision = "FP32";  // FP32 | FP16 | INT8 (any case in the file); the engine decides if it can
  std::string runtime_device = "arm_cpu";
  bool enable_benchmark = false;  // PaddleClas's benchmark: 1000 runs per image, the first 10 untimed
  bool tipc_benchmark = false;
  // edgeclas keys.
  std::string engine;  // empty: the engine this binary was built with
  int power_mode = 0;  // 0 big cores, 1 little cores, 2 all cores, 3 no binding (Paddle Lite numbering)
  int topk = 5;
  // "postprocess Topk|ThreshOutput|MultiLabelThreshOutput" ("multilabel 1" is the last one: a sigmoid model).
  PostProcessKind postprocess = PostProcessKind::kTopk;
  float threshold = -1.0f;  // "threshold 0..1"; unset (< 0): 0.5 for ThreshOutput / multi-label, no cut for Topk
  int warmup = 0;
  int repeats = 1;
  int decode_threads = 0;  // threads decoding + preprocessing ahead of inference; 0: one per CPU in use
  // Images in flight at once (throughput over a folder): each worker decodes, preprocesses and infers its own
  // image, inferences overlap (each still on num_threads threads). 1: one inference at a time, so latency
  // samples are never taken under load (what bench measures).
  int concurrent_images = 1;
  OutputFormat output = OutputFormat::kText;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  float scale = 1.0f / 255.0f;
  std::string channel_order = "RGB";
  // Decoding: JPEGs at 1/2..1/8 size in the DCT domain while the short side stays >= resize_short_size
  // (faster on large photos, not bit-identical to cv2's full decode: native/README.md); pixel limit.
  bool jpeg_dct_scaling = false;
  long long max_image_pixels = 100000000;  // kDefaultMaxImagePixels (image.h)

  // Where the config came from: relative file paths in it are resolved against its directory.
  std::string source = "<config>";
  std::string base_dir;
  // Settings read but not honoured whatever the engine (visualize 1, runtime_device arm_gpu, …), with the reason.
  std::vector<IgnoredSetting> ignored;
};

// One "key value" line per setting; '#' starts a comment; blank lines are ignored. Unknown keys are
// warnings (naming the key and line), bad values are errors naming the key and line: numbers must be
// finite as float, and mean/std/scale must keep the normalised pixel (v * scale - mean) / std finite.
Status ParseConfig(const std::string& text, const std::string& source, Config* cfg,
                   std::vector<std::string>* warnings);
// The file must be a regular file of at most 1 MiB (a config path of /dev/zero or a FIFO is refused at once).
Status LoadConfigFile(const std::string& path, Config* cfg, std::vector<std::string>* warnings);

// A path from the config: as given when it exists (PaddleClas behaviour: relative to the working
// directory), else relative to the config file's directory.
std::string ResolveConfigPath(const Config& cfg, const std::string& path);

const char* PostProcessName(PostProcessKind k);

// "key value" lines describing every setting in effect (printed first by clas_system): all but the
// `ignored` ones (cfg.ignored plus what the engine ignores, EngineIgnoredSettings).
std::vector<std::pair<std::string, std::string>> SettingsInEffect(const Config& cfg,
                                                                   const std::vector<IgnoredSetting>& ignored);

// "config.txt: precision FP16 ignored: <reason>", the warning clas_system prints for an ignored setting.
std::string IgnoredText(const Config& cfg, const IgnoredSetting& ignored);

}  // namespace edgeclas

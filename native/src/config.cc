#include "edgeclas/config.h"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <sys/stat.h>

#include "edgeclas/image.h"

namespace edgeclas {
namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool ParseInt(const std::string& v, long lo, long hi, int* out) {
  if (v.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi) return false;
  *out = static_cast<int>(x);
  return true;
}

bool ParseFloat(const std::string& v, float* out) {
  if (v.empty()) return false;
  // "1/255" is how scale is usually written in PaddleClas YAML; accept a fraction too.
  size_t slash = v.find('/');
  if (slash != std::string::npos) {
    float a = 0, b = 0;
    if (!ParseFloat(v.substr(0, slash), &a) || !ParseFloat(v.substr(slash + 1), &b) || b == 0.0f) return false;
    *out = a / b;
    return std::isfinite(*out);
  }
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(x)) return false;
  *out = static_cast<float>(x);
  return std::isfinite(*out);  // 1e39 is a finite double but inf as the float the pipeline uses
}

bool ParseInt64(const std::string& v, long long lo, long long hi, long long* out) {
  if (v.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi) return false;
  *out = x;
  return true;
}

// Preprocessing computes v * (scale / std) + (-mean / std) in float for pixel values v in 0..255: every
// term must stay finite, or the model gets inf/NaN and answers with garbage. Returns the key to blame
// and the reason, or an empty key.
std::pair<std::string, std::string> NormalisationProblem(const Config& c) {
  for (int ch = 0; ch < 3; ++ch) {
    const float a = c.scale / c.std[ch], b = -c.mean[ch] / c.std[ch];
    const float hi = 255.0f * std::fabs(a) + std::fabs(b);
    if (std::isfinite(a) && std::isfinite(b) && std::isfinite(hi)) continue;
    // Blame the value furthest (in orders of magnitude) from its ImageNet-typical size.
    auto off = [](double v, double typical) { return std::fabs(std::log10(std::fabs(v) / typical)); };
    const double off_std = off(c.std[ch], 0.225);
    std::string key = !std::isfinite(a) ? (off(c.scale, 1 / 255.0) > off_std ? "scale" : "std")
                      : !std::isfinite(b) ? (off(c.mean[ch], 0.45) > off_std ? "mean" : "std")
                                          : "mean";
    std::ostringstream why;
    why.precision(7);
    why << "(v * scale - mean) / std overflows float for channel " << ch << " (scale " << c.scale << ", mean "
        << c.mean[ch] << ", std " << c.std[ch] << ")";
    return {key, why.str()};
  }
  return {"", ""};
}

bool ParseBool(const std::string& v, bool* out) {
  if (v == "1" || v == "true" || v == "True" || v == "on") return *out = true, true;
  if (v == "0" || v == "false" || v == "False" || v == "off") return *out = false, true;
  return false;
}

bool ParseTriple(const std::string& v, std::array<float, 3>* out) {
  std::string s = v;
  for (char& c : s)
    if (c == ',' || c == '[' || c == ']') c = ' ';
  std::istringstream in(s);
  std::string tok;
  std::array<float, 3> r{};
  int n = 0;
  while (in >> tok) {
    if (n == 3 || !ParseFloat(tok, &r[n])) return false;
    ++n;
  }
  if (n != 3) return false;
  *out = r;
  return true;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string FormatFloat(double x) {
  std::ostringstream o;
  o.precision(7);
  o << x;
  return o.str();
}

constexpr long long kMaxConfigBytes = 1 << 20;

}  // namespace

Status ParseConfig(const std::string& text, const std::string& source, Config* cfg,
                   std::vector<std::string>* warnings) {
  Config c;
  c.source = source;
  c.base_dir = DirName(source);
  // Each setter returns the expected-value description on failure, "" on success.
  using Setter = std::function<std::string(const std::string&)>;
  auto int_in = [](int* dst, long lo, long hi) -> Setter {
    return [=](const std::string& v) {
      return ParseInt(v, lo, hi, dst) ? std::string()
                                      : "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    };
  };
  auto boolean = [](bool* dst) -> Setter {
    return [=](const std::string& v) { return ParseBool(v, dst) ? std::string() : std::string("0 or 1"); };
  };
  auto text_value = [](std::string* dst) -> Setter {
    return [=](const std::string& v) {
      *dst = v;
      return std::string();
    };
  };
  auto one_of = [](std::string* dst, std::vector<std::string> allowed) -> Setter {
    return [=](const std::string& v) {
      std::string all;
      for (const auto& a : allowed) {
        if (v == a) {
          *dst = v;
          return std::string();
        }
        all += (all.empty() ? "" : "|") + a;
      }
      return "one of " + all;
    };
  };
  std::map<std::string, Setter> setters = {
      {"clas_model_file", text_value(&c.clas_model_file)},
      {"label_path", text_value(&c.label_path)},
      {"resize_short_size", int_in(&c.resize_short_size, 1, 16384)},
      {"crop_size", int_in(&c.crop_size, 1, 16384)},
      {"visualize", boolean(&c.visualize)},
      {"num_threads", int_in(&c.num_threads, 1, 256)},
      {"batch_size", int_in(&c.batch_size, 1, 64)},
      {"precision",
       [&c](const std::string& v) {
         std::string up = v;
         for (char& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
         if (up != "FP32" && up != "FP16" && up != "INT8") return std::string("FP32, FP16 or INT8");
         c.precision = up;
         return std::string();
       }},
      {"runtime_device", text_value(&c.runtime_device)},
      {"enable_benchmark", boolean(&c.enable_benchmark)},
      {"tipc_benchmark", boolean(&c.tipc_benchmark)},
      {"engine", one_of(&c.engine, {"onnxruntime", "lite"})},
      {"power_mode", int_in(&c.power_mode, 0, 3)},
      {"topk", int_in(&c.topk, 1, 1000000)},
      {"postprocess",
       [&c](const std::string& v) {
         if (v == "Topk") return c.postprocess = PostProcessKind::kTopk, std::string();
         if (v == "ThreshOutput") return c.postprocess = PostProcessKind::kThreshOutput, std::string();
         if (v == "MultiLabelThreshOutput") return c.postprocess = PostProcessKind::kMultiLabel, std::string();
         return std::string("Topk, ThreshOutput or MultiLabelThreshOutput");
       }},
      {"multilabel",
       [&c](const std::string& v) {
         bool on = false;
         if (!ParseBool(v, &on)) return std::string("0 or 1");
         if (on) c.postprocess = PostProcessKind::kMultiLabel;
         else if (c.postprocess == PostProcessKind::kMultiLabel) c.postprocess = PostProcessKind::kTopk;
         return std::string();
       }},
      {"threshold",
       [&c](const std::string& v) {
         float t = 0;
         if (!ParseFloat(v, &t) || t < 0.0f || t > 1.0f) return std::string("a number in 0..1");
         c.threshold = t;
         return std::string();
       }},
      {"warmup", int_in(&c.warmup, 0, 1000000)},
      {"repeats", int_in(&c.repeats, 1, 1000000)},
      {"decode_threads", int_in(&c.decode_threads, 0, 256)},
      {"concurrent_images", int_in(&c.concurrent_images, 1, 256)},
      {"output",
       [&c](const std::string& v) {
         if (v == "json") return c.output = OutputFormat::kJson, std::string();
         if (v == "text") return c.output = OutputFormat::kText, std::string();
         return std::string("json or text");
       }},
      {"mean",
       [&c](const std::string& v) {
         return ParseTriple(v, &c.mean) ? "" : std::string("three numbers, finite as float");
       }},
      {"std",
       [&c](const std::string& v) {
         std::array<float, 3> s{};
         if (!ParseTriple(v, &s) || s[0] == 0 || s[1] == 0 || s[2] == 0) return std::string("three non-zero numbers, finite as float");
         c.std = s;
         return std::string();
       }},
      {"scale",
       [&c](const std::string& v) {
         return ParseFloat(v, &c.scale) && c.scale > 0
                    ? ""
                    : std::string("a positive number, finite as float (e.g. 0.00392157 or 1/255)");
       }},
      {"channel_order", one_of(&c.channel_order, {"RGB", "BGR"})},
      {"jpeg_dct_scaling", boolean(&c.jpeg_dct_scaling)},
      {"max_image_pixels",
       [&c](const std::string& v) {
         return ParseInt64(v, 1, 1LL << 34, &c.max_image_pixels) ? std::string()
                                                                  : std::string("an integer in 1..17179869184");
       }},
  };

  std::map<std::string, int> seen;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = raw;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    size_t sp = line.find_first_of(" \t");
    std::string key = line.substr(0, sp);
    std::string value = sp == std::string::npos ? "" : Trim(line.substr(sp));
    std::string where = source + ":" + std::to_string(line_no) + ": ";
    auto it = setters.find(key);
    if (it == setters.end()) {
      if (warnings) warnings->push_back(where + "unknown key '" + key + "' ignored");
      continue;
    }
    if (value.empty()) return Status::Error(where + key + ": missing value");
    std::string expected = it->second(value);
    if (!expected.empty())
      return Status::Error(where + key + ": bad value '" + value + "' (expected " + expected + ")");
    if (seen.count(key) && warnings)
      warnings->push_back(where + "key '" + key + "' repeats line " + std::to_string(seen[key]) + "; the last wins");
    seen[key] = line_no;
  }
  if (c.clas_model_file.empty())
    return Status::Error(source + ": missing key 'clas_model_file' (the model file: .onnx or Paddle Lite .nb)");
  const auto problem = NormalisationProblem(c);
  if (!problem.first.empty()) {
    std::string key = problem.first;
    for (const char* k : {"std", "mean", "scale"})  // blame a key the file sets, when the guess is a default
      if (!seen.count(key) && seen.count(k)) key = k;
    const std::string at = seen.count(key) ? ":" + std::to_string(seen[key]) : "";
    return Status::Error(source + at + ": " + key + ": " + problem.second +
                         "; typical values: mean 0.485 0.456 0.406, std 0.229 0.224 0.225, scale 1/255");
  }
  if (c.crop_size > c.resize_short_size)
    return Status::Error(source + ": crop_size " + std::to_string(c.crop_size) + " is larger than resize_short_size " +
                         std::to_string(c.resize_short_size) + " (the crop is taken from the resized image)");
  // PaddleClas keys: honoured where clas_system can, else recorded as ignored with the reason.
  if (c.enable_benchmark) {
    // PaddleClas's benchmark runs each image 1000 times and leaves the first 10 out of the timing.
    if (seen.count("warmup") && seen.count("repeats"))
      c.ignored.push_back({"enable_benchmark", "1", "warmup and repeats are set in the config and decide the runs"});
    if (!seen.count("warmup")) c.warmup = 10;
    if (!seen.count("repeats")) c.repeats = 990;
  }
  if (c.concurrent_images > 1 && c.decode_threads > 0)
    c.ignored.push_back({"decode_threads", std::to_string(c.decode_threads),
                         "with concurrent_images > 1 each of its workers decodes its own images"});
  if (c.visualize) c.ignored.push_back({"visualize", "1", "no image is drawn; results are printed"});
  if (c.runtime_device != "arm_cpu" && c.runtime_device != "cpu")
    c.ignored.push_back({"runtime_device", c.runtime_device, "clas_system runs on the CPU (arm_cpu)"});
  if (c.tipc_benchmark)
    c.ignored.push_back({"tipc_benchmark", "1",
                         "clas_system prints its own settings and latency summary, not PaddleClas's TIPC AutoLog report"});
#ifndef EDGECLAS_HAVE_LIBJPEG
  if (c.jpeg_dct_scaling) {
    c.ignored.push_back({"jpeg_dct_scaling", "1", "this build decodes JPEG with stb_image, which has no DCT scaling"});
    c.jpeg_dct_scaling = false;
  }
#endif
  *cfg = c;
  return Status::OK();
}

Status LoadConfigFile(const std::string& path, Config* cfg, std::vector<std::string>* warnings) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::Error(path + ": config file not found");
  if (S_ISDIR(st.st_mode)) return Status::Error(path + ": is a directory, expected a config.txt file");
  if (!S_ISREG(st.st_mode)) return Status::Error(path + ": not a regular file, expected a config.txt file");
  if (st.st_size > kMaxConfigBytes)
    return Status::Error(path + ": " + std::to_string(st.st_size) + " bytes; a config.txt is a few lines (limit 1 MiB)");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Error(path + ": cannot read config file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ParseConfig(ss.str(), path, cfg, warnings);
}

std::string ResolveConfigPath(const Config& cfg, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) return path;
  std::string alt = cfg.base_dir + "/" + path;
  return stat(alt.c_str(), &st) == 0 ? alt : path;
}

const char* PostProcessName(PostProcessKind k) {
  switch (k) {
    case PostProcessKind::kThreshOutput: return "ThreshOutput";
    case PostProcessKind::kMultiLabel: return "MultiLabelThreshOutput";
    default: return "Topk";
  }
}

std::vector<std::pair<std::string, std::string>> SettingsInEffect(const Config& c,
                                                                   const std::vector<IgnoredSetting>& ignored) {
  auto triple = [](const std::array<float, 3>& a) {
    return FormatFloat(a[0]) + " " + FormatFloat(a[1]) + " " + FormatFloat(a[2]);
  };
  std::vector<std::pair<std::string, std::string>> all = {
      {"config", c.source},
      {"clas_model_file", c.clas_model_file},
      {"label_path", c.label_path.empty() ? "(none)" : c.label_path},
      {"engine", c.engine.empty() ? "(built-in)" : c.engine},
      {"num_threads", std::to_string(c.num_threads)},
      {"power_mode", std::to_string(c.power_mode)},
      {"resize_short_size", std::to_string(c.resize_short_size)},
      {"crop_size", std::to_string(c.crop_size)},
      {"mean", triple(c.mean)},
      {"std", triple(c.std)},
      {"scale", FormatFloat(c.scale)},
      {"channel_order", c.channel_order},
      {"topk", std::to_string(c.topk)},
      {"postprocess", PostProcessName(c.postprocess)},
      {"threshold", c.threshold < 0 ? (c.postprocess == PostProcessKind::kTopk ? "(none)" : "0.5 (default)")
                                    : FormatFloat(c.threshold)},
      {"warmup", std::to_string(c.warmup)},
      {"repeats", std::to_string(c.repeats)},
      {"decode_threads", c.decode_threads ? std::to_string(c.decode_threads) : "0 (one per CPU in use)"},
      {"concurrent_images", std::to_string(c.concurrent_images)},
      {"decoders", ImageDecoders()},
      {"jpeg_dct_scaling", c.jpeg_dct_scaling ? "1" : "0"},
      {"max_image_pixels", std::to_string(c.max_image_pixels)},
      {"output", c.output == OutputFormat::kJson ? "json" : "text"},
      {"batch_size", std::to_string(c.batch_size)},
      {"precision", c.precision},
      {"runtime_device", c.runtime_device},
      {"enable_benchmark", c.enable_benchmark ? "1" : "0"},
      {"tipc_benchmark", c.tipc_benchmark ? "1" : "0"},
  };
  std::vector<std::pair<std::string, std::string>> in_effect;
  for (auto& kv : all) {
    bool dropped = false;
    for (const auto& i : ignored) dropped = dropped || i.key == kv.first;
    if (!dropped) in_effect.push_back(std::move(kv));
  }
  return in_effect;
}

std::string IgnoredText(const Config& cfg, const IgnoredSetting& i) {
  return cfg.source + ": " + i.key + " " + i.value + " ignored: " + i.reason;
}

}  // namespace edgeclas

#include "edgeclas/output.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace edgeclas {
namespace {

std::string Num(double x, int digits = 6) {
  if (!std::isfinite(x)) return "null";  // JSON has no NaN/Inf
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

std::string Ms(double x) { return Num(x, 6); }

}  // namespace

std::string JsonEscape(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

namespace {

std::string ScoresJson(const std::vector<ClassScore>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); ++i)
    o << (i ? ", " : "") << "{\"class_id\": " << v[i].class_id << ", \"label\": " << JsonEscape(v[i].label)
      << ", \"score\": " << Num(v[i].score, 9) << "}";
  return o.str() + "]";
}

}  // namespace

std::string ImageJson(const ImageResult& r) {
  std::ostringstream o;
  o << "{\"type\": \"image\", \"image\": " << JsonEscape(r.image) << ", \"topk\": " << ScoresJson(r.topk)
    << ", \"classes\": " << ScoresJson(r.classes) << ", \"probs\": [";
  for (size_t i = 0; i < r.probs.size(); ++i) o << (i ? ", " : "") << Num(r.probs[i], 9);
  o << "], \"timing_ms\": {\"preprocess\": " << Ms(r.preprocess_ms) << ", \"inference\": " << Ms(r.inference_ms)
    << ", \"postprocess\": " << Ms(r.postprocess_ms) << "}}";
  return o.str();
}

std::string SummaryJson(const Summary& s) {
  std::ostringstream o;
  o << "{\"type\": \"summary\", \"engine\": " << JsonEscape(s.engine) << ", \"engine_version\": "
    << JsonEscape(s.engine_version) << ", \"precision\": " << JsonEscape(s.precision) << ", \"threads\": " << s.threads << ", \"power_mode\": " << s.power_mode
    << ", \"warmup\": " << s.warmup << ", \"repeats\": " << s.repeats
    << ", \"concurrent_images\": " << s.concurrent_images << ", \"batch_size\": " << s.batch_size
    << ", \"images\": " << s.images
    << ", \"failed\": " << s.failed << ", \"latency_ms\": {\"init\": " << Ms(s.init_ms) << ", \"first\": "
    << Ms(s.first_ms) << ", \"min\": " << Ms(s.latency.min) << ", \"max\": " << Ms(s.latency.max)
    << ", \"mean\": " << Ms(s.latency.mean) << ", \"std\": " << Ms(s.latency.std) << ", \"p50\": " << Ms(s.latency.p50)
    << ", \"p90\": " << Ms(s.latency.p90) << ", \"p99\": " << Ms(s.latency.p99) << ", \"samples\": [";
  for (size_t i = 0; i < s.samples_ms.size(); ++i) o << (i ? ", " : "") << Ms(s.samples_ms[i]);
  o << "]}, \"peak_rss_kb\": " << s.peak_rss_kb << ", \"process_threads\": " << s.process_threads
    << ", \"affinity\": {\"power_mode\": " << s.affinity.power_mode
    << ", \"cpus\": [";
  for (size_t i = 0; i < s.affinity.cpus.size(); ++i) o << (i ? ", " : "") << s.affinity.cpus[i];
  o << "], \"applied\": " << (s.affinity.applied ? "true" : "false") << ", \"note\": " << JsonEscape(s.affinity.note)
    << "}}";
  return o.str();
}

std::string ImageText(const ImageResult& r) {
  // PaddleClas deploy/lite result lines, then the times (milliseconds, unlike PaddleClas's seconds).
  std::ostringstream o;
  // The answer lines are the post-processing's (the top-k list for Topk; the decided classes of a
  // thresholded binary or multi-label model), in PaddleClas's line format.
  o << "===clas result for image: " << r.image << "===\n";
  for (size_t i = 0; i < r.classes.size(); ++i)
    o << "\tTop-" << i + 1 << ", class_id: " << r.classes[i].class_id << ", class_name: " << r.classes[i].label
      << ", score: " << r.classes[i].score << "\n";
  // parsers/clas_system.py reads this line (a result block without it and without Top- lines is truncated)
  if (r.classes.empty()) o << "\tno class at or above the threshold\n";
  o << "Time(unit: ms): preprocess = " << Ms(r.preprocess_ms) << ", inference = " << Ms(r.inference_ms)
    << ", postprocess = " << Ms(r.postprocess_ms) << "\n";
  return o.str();
}

std::string SummaryText(const Summary& s) {
  std::ostringstream o;
  o << "===summary===\n"
    << "engine: " << s.engine << " " << s.engine_version << ", precision: " << s.precision << ", threads: " << s.threads
    << ", power_mode: " << s.power_mode << ", warmup: " << s.warmup << ", repeats: " << s.repeats
    << ", images: " << s.images << ", failed: " << s.failed
    << (s.concurrent_images > 1 ? ", concurrent_images: " + std::to_string(s.concurrent_images) : std::string())
    << (s.batch_size > 1 ? ", batch_size: " + std::to_string(s.batch_size) : std::string()) << "\n"
    << "Time(unit: ms): init = " << Ms(s.init_ms) << ", first = " << Ms(s.first_ms) << ", min = " << Ms(s.latency.min)
    << ", max = " << Ms(s.latency.max) << ", avg = " << Ms(s.latency.mean) << ", std = " << Ms(s.latency.std)
    << ", p50 = " << Ms(s.latency.p50) << ", p90 = " << Ms(s.latency.p90) << ", p99 = " << Ms(s.latency.p99) << "\n"
    << "peak_rss_kb: " << s.peak_rss_kb << ", process_threads: " << s.process_threads << "\n"
    << "affinity: cpus [";
  for (size_t i = 0; i < s.affinity.cpus.size(); ++i) o << (i ? "," : "") << s.affinity.cpus[i];
  o << "], applied: " << (s.affinity.applied ? "yes" : "no");
  if (!s.affinity.note.empty()) o << " (" << s.affinity.note << ")";
  o << "\n";
  return o.str();
}

std::string SettingsText(const std::vector<std::pair<std::string, std::string>>& settings) {
  std::ostringstream o;
  o << "===settings===\n";
  for (const auto& kv : settings) o << kv.first << " " << kv.second << "\n";
  return o.str();
}

}  // namespace edgeclas

#include "edgeclas/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include <sys/stat.h>

#include "edgeclas/image.h"
#include "edgeclas/preprocess.h"

namespace edgeclas {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Status Pipeline::Init(const Config& cfg) {
  cfg_ = cfg;
  if (!cfg_.engine.empty() && cfg_.engine != BuiltEngineName())
    return Status::Error(cfg_.source + ": engine '" + cfg_.engine + "' requested but this clas_system was built with '" +
                         BuiltEngineName() + "' (rebuild with edgeclas build --engine " + cfg_.engine + ")");
  engine_ = CreateEngine();
  if (!engine_)
    return Status::Error("this clas_system was built without an inference engine (EDGECLAS_ENGINE=none); "
                         "rebuild with edgeclas build --engine onnxruntime or --engine lite");
  if (!cfg_.label_path.empty()) EDGECLAS_RETURN_IF_ERROR(LoadLabels(ResolveConfigPath(cfg_, cfg_.label_path), &labels_));
  affinity_ = ApplyPowerMode(cfg_.power_mode);
  Config load_cfg = cfg_;
  load_cfg.clas_model_file = ResolveConfigPath(cfg_, cfg_.clas_model_file);
  struct stat st {};
  if (stat(load_cfg.clas_model_file.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Status::Error(load_cfg.clas_model_file + ": clas_model_file is not a regular file (set it in " +
                         cfg_.source + ")");
  const auto t0 = std::chrono::steady_clock::now();
  EDGECLAS_RETURN_IF_ERROR(engine_->Load(load_cfg));
  init_ms_ = MsSince(t0);
  process_threads_ = ProcessThreads();
  // A fixed spatial size in the model must agree with crop_size, else every run would fail later.
  const std::vector<int64_t> shape = engine_->input_shape();
  if (shape.size() == 4) {
    if ((shape[1] > 0 && shape[1] != 3) || (shape[2] > 0 && shape[2] != cfg_.crop_size) ||
        (shape[3] > 0 && shape[3] != cfg_.crop_size))
      return Status::Error(cfg_.clas_model_file + ": model input is " + std::to_string(shape[1]) + "x" +
                           std::to_string(shape[2]) + "x" + std::to_string(shape[3]) + " but crop_size is " +
                           std::to_string(cfg_.crop_size) + " (set crop_size in " + cfg_.source + ")");
  }
  return Status::OK();
}

Pipeline::Prepared Pipeline::Prepare(const std::string& path) const {
  Prepared out;
  Image img;
  DecodeOptions opt;
  opt.jpeg_dct_min_short = cfg_.jpeg_dct_scaling ? cfg_.resize_short_size : 0;
  opt.max_pixels = cfg_.max_image_pixels;
  out.status = DecodeImageFile(path, &img, opt);
  if (!out.status.ok()) return out;
  const auto t0 = std::chrono::steady_clock::now();
  PreprocessParams p;
  p.resize_short = cfg_.resize_short_size;
  p.crop_size = cfg_.crop_size;
  p.mean = cfg_.mean;
  p.std = cfg_.std;
  p.scale = cfg_.scale;
  p.bgr = cfg_.channel_order == "BGR";
  out.status = Preprocess(img.rgb.data(), img.width, img.height, p, &out.input);
  if (!out.status.ok()) out.status = Status::Error(path + ": " + out.status.message());
  out.preprocess_ms = MsSince(t0);
  return out;
}

Status Pipeline::Infer(const std::string& path, Prepared* prepared, ImageResult* r) {
  *r = ImageResult();
  r->image = path;
  ++images_;
  if (!prepared->status.ok()) {
    ++failed_;
    return prepared->status;
  }
  r->preprocess_ms = prepared->preprocess_ms;
  const std::vector<int64_t> shape = {1, 3, cfg_.crop_size, cfg_.crop_size};
  std::vector<float> output;
  double timed_sum = 0;
  for (int i = 0; i < cfg_.warmup + cfg_.repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = engine_->Run(prepared->input.data(), shape, &output);
    const double ms = MsSince(t0);
    if (!st.ok()) {
      ++failed_;
      return Status::Error(path + ": " + st.message());
    }
    if (first_ms_ < 0) first_ms_ = ms;
    if (i >= cfg_.warmup) {
      samples_ms_.push_back(ms);
      timed_sum += ms;
    }
  }
  r->inference_ms = timed_sum / cfg_.repeats;
  for (size_t i = 0; i < output.size(); ++i) {
    if (!std::isfinite(output[i])) {
      ++failed_;
      return Status::Error(path + ": the model's output " + std::to_string(i) + " is " +
                           (std::isnan(output[i]) ? "NaN" : "infinite") +
                           " (check mean/std/scale in " + cfg_.source + " and the model file)");
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  r->topk = TopK(output, cfg_.topk, labels_);
  Status decided = Decide(output, cfg_.postprocess, cfg_.topk, cfg_.threshold, labels_, &r->classes);
  r->postprocess_ms = MsSince(t0);
  if (!decided.ok()) {
    ++failed_;
    return Status::Error(path + ": " + decided.message());
  }
  r->probs = std::move(output);
  return Status::OK();
}

Status Pipeline::RunImage(const std::string& path, ImageResult* r) {
  Prepared p = Prepare(path);
  return Infer(path, &p, r);
}

void Pipeline::RunImages(const std::vector<std::string>& paths, const ImageSink& sink) {
  const int workers = std::max(1, cfg_.decode_threads > 0 ? cfg_.decode_threads
                                                          : static_cast<int>(affinity_.cpus.size()));
  // Chunks bound the memory held by prepared inputs (3 x crop x crop floats each).
  const size_t chunk = static_cast<size_t>(workers) * 4;
  for (size_t begin = 0; begin < paths.size(); begin += chunk) {
    const size_t end = std::min(paths.size(), begin + chunk);
    std::vector<Prepared> prepared(end - begin);
    std::atomic<size_t> next{begin};
    auto work = [&] {
      for (size_t i = next++; i < end; i = next++) prepared[i - begin] = Prepare(paths[i]);
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < workers && static_cast<size_t>(w) < end - begin; ++w) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    for (size_t i = begin; i < end; ++i) {
      ImageResult r;
      Status st = Infer(paths[i], &prepared[i - begin], &r);
      prepared[i - begin] = Prepared();  // free the input now
      sink(st, r);
    }
  }
}

std::vector<std::string> Pipeline::EngineNotes() const {
  return engine_ ? engine_->notes() : std::vector<std::string>();
}

Summary Pipeline::MakeSummary() const {
  Summary s;
  if (engine_) {
    s.engine = engine_->name();
    s.engine_version = engine_->version();
    s.precision = engine_->precision();
  }
  s.threads = cfg_.num_threads;
  s.power_mode = cfg_.power_mode;
  s.warmup = cfg_.warmup;
  s.repeats = cfg_.repeats;
  s.images = images_;
  s.failed = failed_;
  s.init_ms = init_ms_;
  s.first_ms = first_ms_ < 0 ? 0 : first_ms_;
  s.samples_ms = samples_ms_;
  s.latency = ComputeStats(samples_ms_);
  s.peak_rss_kb = PeakRssKb();
  s.process_threads = process_threads_;
  s.affinity = affinity_;
  return s;
}

}  // namespace edgeclas

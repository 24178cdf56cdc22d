#include "edgeclas/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
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
  EDGECLAS_RETURN_IF_ERROR(Setup(cfg));
  return Load();
}

Status Pipeline::Setup(const Config& cfg) {
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
  model_file_ = ResolveConfigPath(cfg_, cfg_.clas_model_file);
  struct stat st {};
  if (stat(model_file_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Status::Error(model_file_ + ": clas_model_file is not a regular file (set it in " + cfg_.source + ")");
  return Status::OK();
}

Status Pipeline::Load() {
  Config load_cfg = cfg_;
  load_cfg.clas_model_file = model_file_;
  const auto t0 = std::chrono::steady_clock::now();
  EDGECLAS_RETURN_IF_ERROR(engine_->Load(load_cfg));
  // An engine whose Run is not thread-safe gets one instance per further worker (loaded one after another:
  // init counts them all).
  extra_engines_.clear();
  if (!engine_->concurrent_runs_safe())
    for (int w = 1; w < cfg_.concurrent_images; ++w) {
      extra_engines_.push_back(CreateEngine());
      EDGECLAS_RETURN_IF_ERROR(extra_engines_.back()->Load(load_cfg));
    }
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

Pipeline::Outcome Pipeline::Infer(Engine* engine, const std::string& path, Prepared* prepared) const {
  Outcome o;
  ImageResult* r = &o.result;
  r->image = path;
  if (!prepared->status.ok()) {
    o.status = prepared->status;
    return o;
  }
  r->preprocess_ms = prepared->preprocess_ms;
  const std::vector<int64_t> shape = {1, 3, cfg_.crop_size, cfg_.crop_size};
  std::vector<float> output;
  double timed_sum = 0;
  for (int i = 0; i < cfg_.warmup + cfg_.repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = engine->Run(prepared->input.data(), shape, &output);
    const double ms = MsSince(t0);
    if (!st.ok()) {
      o.status = Status::Error(path + ": " + st.message());
      return o;
    }
    o.run_ms.push_back(ms);
    if (i >= cfg_.warmup) timed_sum += ms;
  }
  r->inference_ms = timed_sum / cfg_.repeats;
  for (size_t i = 0; i < output.size(); ++i) {
    if (!std::isfinite(output[i])) {
      o.status = Status::Error(path + ": the model's output " + std::to_string(i) + " is " +
                               (std::isnan(output[i]) ? "NaN" : "infinite") + " (check mean/std/scale in " +
                               cfg_.source + " and the model file)");
      return o;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  r->topk = TopK(output, cfg_.topk, labels_);
  Status decided = Decide(output, cfg_.postprocess, cfg_.topk, cfg_.threshold, labels_, &r->classes);
  r->postprocess_ms = MsSince(t0);
  if (!decided.ok()) {
    o.status = Status::Error(path + ": " + decided.message());
    return o;
  }
  r->probs = std::move(output);
  return o;
}

Status Pipeline::Account(Outcome* o, ImageResult* r) {
  ++images_;
  for (size_t i = 0; i < o->run_ms.size(); ++i) {
    if (first_ms_ < 0) first_ms_ = o->run_ms[i];
    if (static_cast<int>(i) >= cfg_.warmup) samples_ms_.push_back(o->run_ms[i]);
  }
  if (!o->status.ok()) ++failed_;
  *r = std::move(o->result);
  return o->status;
}

Status Pipeline::RunImage(const std::string& path, ImageResult* r) {
  Prepared p = Prepare(path);
  Outcome o = Infer(engine_.get(), path, &p);
  return Account(&o, r);
}

Status Pipeline::Run(const Config& cfg, const std::vector<std::string>& paths, const std::function<void()>& loaded,
                     const ImageSink& sink) {
  EDGECLAS_RETURN_IF_ERROR(Setup(cfg));
  if (cfg_.concurrent_images > 1 && paths.size() > 1) return RunConcurrent(paths, sink, loaded);
  EDGECLAS_RETURN_IF_ERROR(Load());
  if (loaded) loaded();
  RunChunked(paths, sink);
  return Status::OK();
}

void Pipeline::RunChunked(const std::vector<std::string>& paths, const ImageSink& sink) {
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
      Outcome o = Infer(engine_.get(), paths[i], &prepared[i - begin]);
      prepared[i - begin] = Prepared();  // free the input now
      ImageResult r;
      Status st = Account(&o, &r);
      sink(st, r);
    }
  }
}

Status Pipeline::RunConcurrent(const std::vector<std::string>& paths, const ImageSink& sink,
                               const std::function<void()>& loaded) {
  const size_t n = paths.size();
  const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(cfg_.concurrent_images), n));
  // Images are taken at most `window` ahead of the sink (finished outcomes wait for every earlier image to be
  // out): that bounds the memory held by prepared inputs (3 x crop x crop floats each, up to 64 MiB) and results.
  const size_t input_bytes = 3 * sizeof(float) * static_cast<size_t>(cfg_.crop_size) * cfg_.crop_size;
  const size_t window = std::max<size_t>(static_cast<size_t>(workers) * 4,
                                         std::min<size_t>(64, (size_t{64} << 20) / input_bytes));
  // Images in flight are [emitted, emitted + window): slot i % window is theirs alone.
  std::vector<std::unique_ptr<Outcome>> done(window);
  std::vector<Prepared> prepared(window);
  std::deque<size_t> pending;  // prepared while the engine loaded, not yet inferred
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0, emitted = 0;
  // The workers decode + preprocess images while this thread loads the engine (a model load is mostly one
  // core's work); they infer once it is ready and stop if it failed.
  enum { kLoading, kReady, kFailed } engine_state = kLoading;
  auto engine_of = [&](int w) {  // call once the engine is ready
    return engine_->concurrent_runs_safe() || w == 0 ? engine_.get() : extra_engines_[w - 1].get();
  };
  auto work = [&](int w) {
    Engine* engine = nullptr;
    for (;;) {
      size_t i;
      bool infer_pending = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] {
          return engine_state == kFailed || (engine_state == kReady && !pending.empty()) ||
                 (next < n && next < emitted + window) || (next >= n && pending.empty());
        });
        if (engine_state == kFailed) return;
        if (engine_state == kReady && !pending.empty()) {
          i = pending.front();
          pending.pop_front();
          infer_pending = true;
        } else if (next < n && next < emitted + window) {
          i = next++;
        } else {
          return;  // all taken, none pending
        }
      }
      if (!infer_pending) {
        Prepared p = Prepare(paths[i]);
        std::lock_guard<std::mutex> lock(mu);
        if (engine_state != kReady) {  // the engine is still loading: keep it for whoever is free first
          prepared[i % window] = std::move(p);
          pending.push_back(i);
          cv.notify_all();
          continue;
        }
        prepared[i % window] = std::move(p);
      }
      if (!engine) engine = engine_of(w);  // the engine is ready here: seen under the lock above
      auto o = std::make_unique<Outcome>(Infer(engine, paths[i], &prepared[i % window]));
      {
        std::lock_guard<std::mutex> lock(mu);
        prepared[i % window] = Prepared();  // free the input now
        done[i % window] = std::move(o);
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(work, w);
  Status st = Load();
  {
    std::lock_guard<std::mutex> lock(mu);
    engine_state = st.ok() ? kReady : kFailed;
  }
  cv.notify_all();
  if (!st.ok()) {
    for (auto& t : pool) t.join();
    return st;
  }
  if (loaded) loaded();
  // The calling thread hands results to the sink in input order (the sink may need it: Python's GIL).
  for (size_t i = 0; i < n; ++i) {
    std::unique_ptr<Outcome> o;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done[i % window] != nullptr; });
      o = std::move(done[i % window]);
      emitted = i + 1;
    }
    cv.notify_all();
    ImageResult r;
    Status st = Account(o.get(), &r);
    sink(st, r);
  }
  for (auto& t : pool) t.join();
  return Status::OK();
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
  s.concurrent_images = cfg_.concurrent_images;
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

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

Status Pipeline::Setup(const Config& cfg) {
  cfg_ = cfg;
  batch_size_ = cfg_.batch_size;
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

Status Pipeline::Load(int workers) {
  Config load_cfg = cfg_;
  load_cfg.clas_model_file = model_file_;
  const auto t0 = std::chrono::steady_clock::now();
  EDGECLAS_RETURN_IF_ERROR(engine_->Load(load_cfg));
  // An engine whose Run is not thread-safe gets one instance per further worker that will run (loaded one after
  // another: init counts them all).
  extra_engines_.clear();
  if (!engine_->concurrent_runs_safe())
    for (int w = 1; w < workers; ++w) {
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
    // A batch can be short (the last one, or one with a bad image left out): the batch dimension must be free.
    if (cfg_.batch_size > 1 && shape[0] > 0)
      return Status::Error(cfg_.clas_model_file + ": the model's input takes exactly " + std::to_string(shape[0]) +
                           " image(s) per inference, so batch_size " + std::to_string(cfg_.batch_size) +
                           " cannot take effect (set batch_size 1 in " + cfg_.source +
                           ", or export the model with a dynamic batch dimension)");
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

std::vector<Pipeline::Outcome> Pipeline::Infer(Engine* engine, const std::string* paths, Prepared* prepared,
                                               size_t count) const {
  std::vector<Outcome> outs(count);
  std::vector<size_t> batch;  // the images that decoded and preprocessed: they go into one inference
  for (size_t k = 0; k < count; ++k) {
    outs[k].result.image = paths[k];
    if (prepared[k].status.ok()) {
      outs[k].result.preprocess_ms = prepared[k].preprocess_ms;
      batch.push_back(k);
    } else {
      outs[k].status = prepared[k].status;  // a bad image fails alone
    }
  }
  if (batch.empty()) return outs;
  auto fail_all = [&](const std::string& message) {
    for (size_t k : batch) outs[k].status = Status::Error(paths[k] + ": " + message);
  };
  const size_t b = batch.size();
  const float* input = prepared[batch[0]].input.data();
  std::vector<float> joined;  // NCHW of b images; a batch of one runs on its own input
  if (b > 1) {
    const size_t per_image = prepared[batch[0]].input.size();
    joined.resize(per_image * b);
    for (size_t j = 0; j < b; ++j)
      std::copy(prepared[batch[j]].input.begin(), prepared[batch[j]].input.end(), joined.begin() + j * per_image);
    input = joined.data();
  }
  const std::vector<int64_t> shape = {static_cast<int64_t>(b), 3, cfg_.crop_size, cfg_.crop_size};
  std::vector<float> output;
  std::vector<double> run_ms;
  double timed_sum = 0;
  for (int i = 0; i < cfg_.warmup + cfg_.repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = engine->Run(input, shape, &output);
    const double ms = MsSince(t0);
    if (!st.ok()) {
      fail_all(st.message());
      return outs;
    }
    run_ms.push_back(ms);
    if (i >= cfg_.warmup) timed_sum += ms;
  }
  if (output.empty() || output.size() % b != 0) {
    fail_all("the model gave " + std::to_string(output.size()) + " outputs for a batch of " + std::to_string(b) +
             " images (set batch_size 1 in " + cfg_.source + ")");
    return outs;
  }
  const size_t classes = output.size() / b;
  outs[batch[0]].run_ms = std::move(run_ms);  // a batch's runs are latency samples once, not once per image
  for (size_t j = 0; j < b; ++j) {
    Outcome& o = outs[batch[j]];
    ImageResult* r = &o.result;
    std::vector<float> probs(output.begin() + j * classes, output.begin() + (j + 1) * classes);
    // an image's inference time is its share of its batch's (the shares add up to the time spent)
    r->inference_ms = timed_sum / cfg_.repeats / b;
    const auto bad = std::find_if(probs.begin(), probs.end(), [](float v) { return !std::isfinite(v); });
    if (bad != probs.end()) {
      o.status = Status::Error(r->image + ": the model's output " + std::to_string(bad - probs.begin()) + " is " +
                               (std::isnan(*bad) ? "NaN" : "infinite") + " (check mean/std/scale in " +
                               cfg_.source + " and the model file)");
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    r->topk = TopK(probs, cfg_.topk, labels_);
    Status decided = Decide(probs, cfg_.postprocess, cfg_.topk, cfg_.threshold, labels_, &r->classes);
    r->postprocess_ms = MsSince(t0);
    if (!decided.ok()) {
      o.status = Status::Error(r->image + ": " + decided.message());
      continue;
    }
    r->probs = std::move(probs);
  }
  return outs;
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

Status Pipeline::Run(const Config& cfg, const std::vector<std::string>& paths, const std::function<void()>& loaded,
                     const ImageSink& sink) {
  EDGECLAS_RETURN_IF_ERROR(Setup(cfg));
  if (cfg_.concurrent_images > 1 && paths.size() > 1) return RunConcurrent(paths, sink, loaded);
  EDGECLAS_RETURN_IF_ERROR(Load(1));
  if (loaded) loaded();
  RunChunked(paths, sink);
  return Status::OK();
}

void Pipeline::RunChunked(const std::vector<std::string>& paths, const ImageSink& sink) {
  const int workers = std::max(1, cfg_.decode_threads > 0 ? cfg_.decode_threads
                                                          : static_cast<int>(affinity_.cpus.size()));
  // Chunks bound the memory held by prepared inputs (3 x crop x crop floats each); whole batches each.
  const size_t batch = static_cast<size_t>(cfg_.batch_size);
  const size_t chunk = (static_cast<size_t>(workers) * 4 + batch - 1) / batch * batch;
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
    for (size_t i = begin; i < end; i += batch) {
      const size_t count = std::min(batch, end - i);
      std::vector<Outcome> outs = Infer(engine_.get(), &paths[i], &prepared[i - begin], count);
      for (size_t k = 0; k < count; ++k) prepared[i - begin + k] = Prepared();  // free the inputs now
      for (Outcome& o : outs) {
        ImageResult r;
        Status st = Account(&o, &r);
        sink(st, r);
      }
    }
  }
}

Status Pipeline::RunConcurrent(const std::vector<std::string>& paths, const ImageSink& sink,
                               const std::function<void()>& loaded) {
  const size_t n = paths.size();
  const size_t wanted = static_cast<size_t>(cfg_.concurrent_images);
  // A worker takes the next batch of images (batch_size of them, fewer at the end) through the whole pipeline;
  // batches shrink so that a folder of few images still gives every worker one (4 images, 2 workers: 2 + 2).
  const size_t batch = std::min(static_cast<size_t>(cfg_.batch_size), (n + wanted - 1) / wanted);
  batch_size_ = static_cast<int>(batch);
  const int workers = static_cast<int>(std::min(wanted, (n + batch - 1) / batch));
  // Batches are taken at most `window` images ahead of the sink (finished outcomes wait for every earlier image
  // to be out): that bounds the memory held by prepared inputs (3 x crop x crop floats each, up to 64 MiB
  // unless the batches need more) and results.
  const size_t input_bytes = 3 * sizeof(float) * static_cast<size_t>(cfg_.crop_size) * cfg_.crop_size;
  size_t window = std::max<size_t>(static_cast<size_t>(workers) * std::max<size_t>(4, 2 * batch),
                                   std::min<size_t>(64, (size_t{64} << 20) / input_bytes));
  window = (window + batch - 1) / batch * batch;
  // Images in flight are [emitted, emitted + window): slot i % window is theirs alone, and as batches start at
  // multiples of `batch` and `window` is one too, a batch's slots never wrap.
  std::vector<std::unique_ptr<Outcome>> done(window);
  std::vector<Prepared> prepared(window);
  std::deque<size_t> pending;  // first images of batches prepared while the engine loaded, not yet inferred
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0, emitted = 0;
  auto can_take = [&] { return next < n && std::min(next + batch, n) <= emitted + window; };
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
          return engine_state == kFailed || (engine_state == kReady && !pending.empty()) || can_take() ||
                 (next >= n && pending.empty());
        });
        if (engine_state == kFailed) return;
        if (engine_state == kReady && !pending.empty()) {
          i = pending.front();
          pending.pop_front();
          infer_pending = true;
        } else if (can_take()) {
          i = next;
          next = std::min(next + batch, n);
        } else {
          return;  // all taken, none pending
        }
      }
      const size_t count = std::min(batch, n - i), slot = i % window;
      if (!infer_pending) {
        std::vector<Prepared> ready(count);
        for (size_t k = 0; k < count; ++k) ready[k] = Prepare(paths[i + k]);
        std::lock_guard<std::mutex> lock(mu);
        for (size_t k = 0; k < count; ++k) prepared[slot + k] = std::move(ready[k]);
        if (engine_state != kReady) {  // the engine is still loading: keep it for whoever is free first
          pending.push_back(i);
          cv.notify_all();
          continue;
        }
      }
      if (!engine) engine = engine_of(w);  // the engine is ready here: seen under the lock above
      std::vector<Outcome> outs = Infer(engine, &paths[i], &prepared[slot], count);
      {
        std::lock_guard<std::mutex> lock(mu);
        for (size_t k = 0; k < count; ++k) {
          prepared[slot + k] = Prepared();  // free the input now
          done[slot + k] = std::make_unique<Outcome>(std::move(outs[k]));
        }
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) pool.emplace_back(work, w);
  Status st = Load(workers);
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
  s.batch_size = batch_size_;
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

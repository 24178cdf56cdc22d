// The clas_system pipeline, shared by the executable and the Python module: decode -> preprocess ->
// warm-up + timed runs -> top-k, with latency bookkeeping.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgeclas/affinity.h"
#include "edgeclas/config.h"
#include "edgeclas/engine.h"
#include "edgeclas/postprocess.h"
#include "edgeclas/stats.h"
#include "edgeclas/status.h"

namespace edgeclas {

struct ImageResult {
  std::string image;
  std::vector<ClassScore> topk;
  std::vector<ClassScore> classes;  // the answer of the configured post-processing (Decide)
  std::vector<float> probs;
  // inference: mean of the timed runs, divided by the images in the batch (batch_size > 1: its share)
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

struct Summary {
  std::string engine, engine_version;
  std::string precision;  // what the engine was asked to compute in after Load (Engine::precision)
  int threads = 0, power_mode = 0, warmup = 0, repeats = 0;
  int concurrent_images = 1;  // > 1: the samples were timed while other images' inferences ran
  int batch_size = 1;  // > 1: a sample is the time of one inference of up to batch_size images (as run: see Run)
  int images = 0, failed = 0;
  double init_ms = 0, first_ms = 0;
  LatencyStats latency;
  std::vector<double> samples_ms;
  long peak_rss_kb = 0;
  // OS threads of the process right after the engine loaded (its thread pool included, the decoders not yet
  // started; with concurrent_images > 1 its workers are): the evidence that num_threads reached the engine.
  int process_threads = 0;
  Affinity affinity;
};

// Called once per image, in input order: status not ok means that image failed (result holds only its path).
using ImageSink = std::function<void(const Status&, const ImageResult&)>;

class Pipeline {
 public:
  // Binds threads for cfg.power_mode, reads labels, creates and loads the engine, then runs many images, the
  // sink called in input order; `loaded` (may be empty) runs once the engine is ready, before any result; an
  // error means nothing ran (config, labels, engine or model errors). concurrent_images 1: decoding +
  // preprocessing of a chunk runs on cfg.decode_threads threads first, then the chunk's inferences run one
  // after another, so timed runs never overlap with decoding. concurrent_images N > 1: N workers each take
  // the next image through the whole pipeline, the first ones decoded while the engine loads (throughput;
  // timed runs overlap). batch_size B > 1: B consecutive images go through one inference (a bad image is left
  // out of its batch and fails alone); with concurrent_images a worker takes B images at a time, B cut to
  // ceil(images / N) so that a small folder still keeps every worker busy (the summary says what ran).
  Status Run(const Config& cfg, const std::vector<std::string>& paths, const std::function<void()>& loaded,
             const ImageSink& sink);
  Summary MakeSummary() const;
  // Settings the engine could not apply, with the reason (after `loaded`).
  std::vector<std::string> EngineNotes() const;

 private:
  struct Prepared {
    Status status;
    std::vector<float> input;
    double preprocess_ms = 0;
  };
  // One image's inference outcome, before it is counted (Account) in input order.
  struct Outcome {
    Status status;
    ImageResult result;
    std::vector<double> run_ms;  // every run, warm-up ones first (of a batch: on its first good image only)
  };
  Prepared Prepare(const std::string& path) const;  // decode + preprocess; thread-safe
  // The `count` images paths[0..count) prepared as prepared[0..count), the good ones in one inference: one
  // outcome each, in order. Thread-safe as far as `engine` is (Engine::concurrent_runs_safe).
  std::vector<Outcome> Infer(Engine* engine, const std::string* paths, Prepared* prepared, size_t count) const;
  Status Account(Outcome* outcome, ImageResult* result);  // counts, latency samples; not thread-safe
  Status Setup(const Config& cfg);  // Run up to the engine load: config checks, labels, thread binding, model path
  // The engine (one per worker when its Run is not thread-safe), init time, the model's input shape.
  Status Load(int workers);
  void RunChunked(const std::vector<std::string>& paths, const ImageSink& sink);  // concurrent_images 1
  // Starts the workers (they decode meanwhile), then Loads on the calling thread.
  Status RunConcurrent(const std::vector<std::string>& paths, const ImageSink& sink,
                       const std::function<void()>& loaded);

  Config cfg_;
  std::string model_file_;  // cfg_.clas_model_file resolved against the config's directory
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Engine>> extra_engines_;  // concurrent_images > 1 on an engine that needs one each
  std::vector<std::string> labels_;
  Affinity affinity_;
  double init_ms_ = 0, first_ms_ = -1;
  std::vector<double> samples_ms_;
  int images_ = 0, failed_ = 0, process_threads_ = 0;
  int batch_size_ = 1;  // what ran: cfg_.batch_size, or less when concurrent workers share a small folder
};

}  // namespace edgeclas

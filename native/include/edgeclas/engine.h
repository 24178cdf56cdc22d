// The device inference engine: one .cc per backend (onnxruntime, paddle_lite, none), chosen at build time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgeclas/config.h"
#include "edgeclas/status.h"

namespace edgeclas {

class Engine {
 public:
  virtual ~Engine() = default;
  // Loads cfg.clas_model_file with cfg.num_threads (and cfg.power_mode where the backend binds threads).
  virtual Status Load(const Config& cfg) = 0;
  // in: NCHW float32 of `shape`; out: the first output, flattened.
  virtual Status Run(const float* in, const std::vector<int64_t>& shape, std::vector<float>* out) = 0;
  // Input shape declared by the model (-1 for dynamic dims); empty before Load.
  virtual std::vector<int64_t> input_shape() const = 0;
  virtual std::string name() const = 0;
  virtual std::string version() const = 0;
  // The arithmetic precision asked of the engine after Load ("FP32", "FP16"), for the summary.
  virtual std::string precision() const { return "FP32"; }
  // What Load found it could not apply after all (e.g. FP16 on a CPU without FP16 arithmetic), with the
  // reason; printed as warnings. What the config alone rules out is EngineIgnoredSettings' job.
  virtual std::vector<std::string> notes() const { return {}; }
  // Whether Run may be called from several threads at once on this one engine (ONNX Runtime sessions
  // may; a Paddle Lite predictor may not). When false, concurrent_images > 1 loads one engine per worker.
  virtual bool concurrent_runs_safe() const { return false; }
};

// The engine compiled into this binary, or nullptr for an engine-free build (EDGECLAS_ENGINE=none).
std::unique_ptr<Engine> CreateEngine();
// Name of the compiled-in engine ("onnxruntime", "lite" or "none").
const char* BuiltEngineName();
// Settings of `cfg` the compiled-in engine does not honour, each with the reason (e.g. a precision the
// engine cannot switch to). Defined in each engine's file: the one place where an engine that learns a
// setting (Paddle Lite's FP16 on ARM) stops listing it and applies it in Load instead.
std::vector<IgnoredSetting> EngineIgnoredSettings(const Config& cfg);

}  // namespace edgeclas

// Paddle Lite backend: light API (MobileConfig + .nb), threads and power mode honoured by Paddle Lite
// itself. Written against Paddle Lite v2.13-rc lite/api/paddle_api.h and paddle_place.h.
#include <paddle_api.h>

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "edgeclas/engine.h"

namespace edgeclas {
namespace {

using paddle::lite_api::CreatePaddlePredictor;
using paddle::lite_api::MobileConfig;
using paddle::lite_api::PaddlePredictor;
using paddle::lite_api::PowerMode;

class PaddleLiteEngine : public Engine {
 public:
  Status Load(const Config& cfg) override {
    const std::string& path = cfg.clas_model_file;
    if (path.size() < 3 || path.compare(path.size() - 3, 3, ".nb") != 0)
      return Status::Error(path + ": not a Paddle Lite .nb model (convert it with edgeclas convert --to nb)");
    try {
      MobileConfig config;
      config.set_model_from_file(path);
      config.set_threads(cfg.num_threads);
      // edgeclas power_mode uses Paddle Lite's numbering (LITE_POWER_HIGH=0 .. LITE_POWER_NO_BIND=3).
      config.set_power_mode(static_cast<PowerMode>(cfg.power_mode));
      predictor_ = CreatePaddlePredictor<MobileConfig>(config);
      if (!predictor_) return Status::Error(path + ": Paddle Lite could not create a predictor");
      input_shape_ = predictor_->GetInput(0)->shape();
      version_ = predictor_->GetVersion();
    } catch (const std::exception& e) {
      return Status::Error(path + ": Paddle Lite: " + e.what());
    }
    return Status::OK();
  }

  Status Run(const float* in, const std::vector<int64_t>& shape, std::vector<float>* out) override {
    if (!predictor_) return Status::Error("paddle lite: Run before Load");
    try {
      std::unique_ptr<paddle::lite_api::Tensor> input = predictor_->GetInput(0);
      input->Resize(shape);
      size_t count = 1;
      for (int64_t d : shape) count *= static_cast<size_t>(d);
      std::memcpy(input->mutable_data<float>(), in, count * sizeof(float));
      predictor_->Run();
      std::unique_ptr<const paddle::lite_api::Tensor> output = predictor_->GetOutput(0);
      size_t n = 1;
      for (int64_t d : output->shape()) n *= static_cast<size_t>(d);
      const float* data = output->data<float>();
      out->assign(data, data + n);
    } catch (const std::exception& e) {
      return Status::Error(std::string("Paddle Lite: ") + e.what());
    }
    return Status::OK();
  }

  std::vector<int64_t> input_shape() const override { return input_shape_; }
  std::string name() const override { return "lite"; }
  std::string version() const override { return version_; }

 private:
  std::shared_ptr<PaddlePredictor> predictor_;
  std::vector<int64_t> input_shape_;
  std::string version_;
};

}  // namespace

std::unique_ptr<Engine> CreateEngine() { return std::make_unique<PaddleLiteEngine>(); }
const char* BuiltEngineName() { return "lite"; }
// Paddle Lite runs the .nb in the precision opt converted it to (edgeclas convert --fp16 | --quant);
// this backend does not switch kernels from the config. Honouring precision FP16 on ARM (an ARM82-FP16
// library and the fp16 .nb) belongs here: stop listing it and apply it in Load.
std::vector<IgnoredSetting> EngineIgnoredSettings(const Config& cfg) {
  if (cfg.precision == "FP32") return {};
  return {{"precision", cfg.precision,
           "this Paddle Lite build runs the .nb in the precision it was converted to (edgeclas convert --fp16)"}};
}

}  // namespace edgeclas

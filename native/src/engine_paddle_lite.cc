// Paddle Lite backend: light API (MobileConfig + .nb), threads, power mode and FP16 precision honoured by
// Paddle Lite itself. Written against Paddle Lite v2.13-rc lite/api/paddle_api.h and paddle_place.h.
//
// Paddle Lite is built without exceptions (its tiny publish): a model it cannot take makes it abort
// inside CreatePaddlePredictor. So everything this file can check is checked before: the .nb header
// (a Paddle Lite model at all, written by the opt version this library is), the precision request.
#include <paddle_api.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <dlfcn.h>
#endif

#include "edgeclas/engine.h"

// The library's version and whether it has ARMv8.2 FP16 kernels, from the SDK manifest (edgeclas build).
#ifndef EDGECLAS_LITE_VERSION
#define EDGECLAS_LITE_VERSION ""
#endif
#ifndef EDGECLAS_LITE_FP16
#define EDGECLAS_LITE_FP16 0
#endif

namespace edgeclas {
namespace {

using paddle::lite_api::CreatePaddlePredictor;
using paddle::lite_api::MobileConfig;
using paddle::lite_api::PaddlePredictor;
using paddle::lite_api::PowerMode;

// "v2.13-rc", "2.13-rc" and "V2.13-RC" are one version; opt writes the first form.
std::string NormalVersion(std::string v) {
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!v.empty() && v[0] == 'v') v.erase(0, 1);
  return v;
}

// .nb (naive buffer, meta version 2): u16 meta version, char[16] opt version, u64 topology size, ...
// (the layout edgeclas/lite/formats.py reads too).
Status ReadNbVersion(const std::string& path, std::string* version) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Error(path + ": cannot open the model file");
  unsigned char head[26] = {0};
  f.read(reinterpret_cast<char*>(head), sizeof(head));
  if (f.gcount() != static_cast<std::streamsize>(sizeof(head)))
    return Status::Error(path + ": too short to be a Paddle Lite .nb model");
  const int meta = head[0] | (head[1] << 8);
  std::string v(reinterpret_cast<const char*>(head + 2), 16);
  v = v.substr(0, v.find('\0'));
  bool printable = !v.empty();
  for (char c : v) printable = printable && c > 32 && c < 127;
  if (meta != 2 || !printable)
    return Status::Error(path + ": not a Paddle Lite .nb model (meta version " + std::to_string(meta) +
                         "; Paddle Lite 2.x writes 2); convert it with edgeclas convert --to nb --target arm");
  *version = v;
  return Status::OK();
}

class PaddleLiteEngine : public Engine {
 public:
  Status Load(const Config& cfg) override {
    const std::string& path = cfg.clas_model_file;
    if (path.size() < 3 || path.compare(path.size() - 3, 3, ".nb") != 0)
      return Status::Error(path + ": not a Paddle Lite .nb model (convert it with edgeclas convert --to nb)");
    std::string made_by;
    EDGECLAS_RETURN_IF_ERROR(ReadNbVersion(path, &made_by));
    const std::string library = EDGECLAS_LITE_VERSION;
    if (!library.empty() && NormalVersion(made_by) != NormalVersion(library))
      return Status::Error(path + ": made by Paddle Lite opt " + made_by + " but this clas_system's Paddle Lite library is " +
                           library + "; they must be the same version (re-convert with opt " + library +
                           ", or build against Paddle Lite " + made_by + ")");
    // What the config alone rules out is listed by EngineIgnoredSettings (printed before the run).
    bool low_precision = cfg.precision == "FP16" && EDGECLAS_LITE_FP16;
    try {
      MobileConfig config;
      config.set_model_from_file(path);
      config.set_threads(cfg.num_threads);
#if defined(__x86_64__)
      // MobileConfig's thread count drives Paddle Lite's ARM kernels only. Its x86 build (edgeclas sdk build
      // paddle-lite --arch host: OpenBLAS, no MKL) runs convolutions through OpenBLAS, which would otherwise use
      // every core whatever num_threads says, so the count is given to OpenBLAS here.
      using SetThreads = void (*)(int);
      if (auto set_blas_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
        set_blas_threads(cfg.num_threads);
      else
        notes_.push_back("num_threads " + std::to_string(cfg.num_threads) +
                         " not applied to BLAS: this x86 Paddle Lite library does not use OpenBLAS");
#endif
      // edgeclas power_mode uses Paddle Lite's numbering (LITE_POWER_HIGH=0 .. LITE_POWER_NO_BIND=3).
      config.set_power_mode(static_cast<PowerMode>(cfg.power_mode));
      if (low_precision) config.set_precision_mode(paddle::lite_api::LITE_PRECISION_LOW);
      predictor_ = CreatePaddlePredictor<MobileConfig>(config);
      if (!predictor_) return Status::Error(path + ": Paddle Lite could not create a predictor");
      input_shape_ = predictor_->GetInput(0)->shape();
      version_ = predictor_->GetVersion();
      // The CPU is known once a predictor exists; without FP16 arithmetic Paddle Lite runs FP32 itself.
      if (low_precision && !config.check_fp16_valid()) {
        low_precision = false;
        notes_.push_back("precision FP16 ignored: this CPU has no ARMv8.2 FP16 arithmetic (Paddle Lite's check); "
                         "running FP32");
      } else if (low_precision) {
        // Paddle Lite v2.13-rc (light_api.cc) goes on in FP32 when an op lacks an FP16 kernel or the first op
        // after feed is not conv2d, and its public API does not say which it chose: seen on PP-LCNet, whose
        // output was then bit-identical to FP32. So the request is reported, with that caveat.
        notes_.push_back("precision FP16 requested and accepted, but Paddle Lite runs it only when every op has an "
                         "FP16 kernel and the first op is conv2d, and otherwise stays FP32 without saying so; "
                         "compare with an FP32 run to know");
      }
    } catch (const std::exception& e) {
      return Status::Error(path + ": Paddle Lite: " + e.what());
    }
    precision_ = low_precision ? "FP16" : "FP32";
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
  std::string precision() const override { return precision_; }
  std::vector<std::string> notes() const override { return notes_; }

 private:
  std::shared_ptr<PaddlePredictor> predictor_;
  std::vector<int64_t> input_shape_;
  std::string version_;
  std::string precision_ = "FP32";
  std::vector<std::string> notes_;
};

}  // namespace

std::unique_ptr<Engine> CreateEngine() { return std::make_unique<PaddleLiteEngine>(); }
const char* BuiltEngineName() { return "lite"; }
// FP16 is applied in Load when the library has FP16 kernels (sdk build --fp16); an FP16 .nb (convert --fp16)
// runs in FP16 whatever the config says, and a .nb's integer precision is fixed at conversion.
std::vector<IgnoredSetting> EngineIgnoredSettings(const Config& cfg) {
  if (cfg.precision == "FP16" && !EDGECLAS_LITE_FP16)
    return {{"precision", cfg.precision,
             "this Paddle Lite library was built without ARMv8.2 FP16 kernels (edgeclas sdk build paddle-lite --fp16); "
             "running the .nb in the precision it was converted to"}};
  if (cfg.precision == "INT8")
    return {{"precision", cfg.precision,
             "a Paddle Lite model's integer precision is fixed when it is converted (edgeclas convert --to nb "
             "--quant int8); running the .nb as converted"}};
  return {};
}

}  // namespace edgeclas

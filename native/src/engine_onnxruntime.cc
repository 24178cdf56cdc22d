// ONNX Runtime backend, on the C API (onnxruntime_c_api.h only): every call returns an OrtStatus that
// maps onto our Status, so no exception crosses the engine boundary. Names and shape come from the model.
#include <onnxruntime_c_api.h>

#include <memory>
#include <string>
#include <vector>

#include "edgeclas/engine.h"

namespace edgeclas {
namespace {

class OnnxRuntimeEngine : public Engine {
 public:
  ~OnnxRuntimeEngine() override {
    if (!api_) return;
    if (memory_info_) api_->ReleaseMemoryInfo(memory_info_);
    if (session_) api_->ReleaseSession(session_);
    if (options_) api_->ReleaseSessionOptions(options_);
    if (env_) api_->ReleaseEnv(env_);
  }

  Status Load(const Config& cfg) override {
    // Headers of version N work with any library >= N; an older library returns no API table.
    api_ = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (!api_)
      return Status::Error(std::string("onnxruntime library ") + OrtGetApiBase()->GetVersionString() +
                           " is older than the headers this clas_system was built with (API " +
                           std::to_string(ORT_API_VERSION) + ")");
    const std::string& path = cfg.clas_model_file;
    if (path.size() >= 3 && path.compare(path.size() - 3, 3, ".nb") == 0)
      return Status::Error(path + ": a Paddle Lite .nb model, but this clas_system uses onnxruntime (give the .onnx "
                                  "model or build with --engine lite)");
    EDGECLAS_RETURN_IF_ERROR(Check(api_->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "edgeclas", &env_), "create env"));
    EDGECLAS_RETURN_IF_ERROR(Check(api_->CreateSessionOptions(&options_), "session options"));
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SetIntraOpNumThreads(options_, cfg.num_threads), "num_threads"));
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SetInterOpNumThreads(options_, 1), "inter-op threads"));
    EDGECLAS_RETURN_IF_ERROR(
        Check(api_->SetSessionGraphOptimizationLevel(options_, ORT_ENABLE_ALL), "graph optimization level"));
    EDGECLAS_RETURN_IF_ERROR(Check(api_->CreateSession(env_, path.c_str(), options_, &session_), path));

    OrtAllocator* alloc = nullptr;
    EDGECLAS_RETURN_IF_ERROR(Check(api_->GetAllocatorWithDefaultOptions(&alloc), "allocator"));
    size_t n_in = 0, n_out = 0;
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SessionGetInputCount(session_, &n_in), path));
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SessionGetOutputCount(session_, &n_out), path));
    if (n_in != 1 || n_out < 1)
      return Status::Error(path + ": expected a classifier with 1 input and >= 1 output, got " + std::to_string(n_in) +
                           " inputs and " + std::to_string(n_out) + " outputs");
    char* name = nullptr;
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SessionGetInputName(session_, 0, alloc, &name), path));
    input_name_ = name;
    EDGECLAS_RETURN_IF_ERROR(Check(api_->AllocatorFree(alloc, name), "allocator free"));
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SessionGetOutputName(session_, 0, alloc, &name), path));
    output_name_ = name;  // outputs are addressed by index: names differ between export formats
    EDGECLAS_RETURN_IF_ERROR(Check(api_->AllocatorFree(alloc, name), "allocator free"));

    OrtTypeInfo* type_info = nullptr;
    EDGECLAS_RETURN_IF_ERROR(Check(api_->SessionGetInputTypeInfo(session_, 0, &type_info), path));
    const OrtTensorTypeAndShapeInfo* tensor_info = nullptr;
    Status st = Check(api_->CastTypeInfoToTensorInfo(type_info, &tensor_info), path);
    size_t dims = 0;
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    if (st.ok() && tensor_info) st = Check(api_->GetTensorElementType(tensor_info, &type), path);
    if (st.ok() && tensor_info) st = Check(api_->GetDimensionsCount(tensor_info, &dims), path);
    if (st.ok() && tensor_info) {
      input_shape_.assign(dims, -1);
      st = Check(api_->GetDimensions(tensor_info, input_shape_.data(), dims), path);
    }
    api_->ReleaseTypeInfo(type_info);
    EDGECLAS_RETURN_IF_ERROR(st);
    if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) return Status::Error(path + ": input '" + input_name_ + "' is not float32");
    if (dims != 4) return Status::Error(path + ": input '" + input_name_ + "' is not NCHW (rank " + std::to_string(dims) + ")");
    return Check(api_->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory_info_), "memory info");
  }

  Status Run(const float* in, const std::vector<int64_t>& shape, std::vector<float>* out) override {
    if (!session_) return Status::Error("onnxruntime: Run before Load");
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    OrtValue* input = nullptr;
    OrtValue* output = nullptr;
    // ORT does not write to an input tensor; the C API just takes a non-const pointer.
    Status st = Check(api_->CreateTensorWithDataAsOrtValue(memory_info_, const_cast<float*>(in), count * sizeof(float),
                                                           shape.data(), shape.size(),
                                                           ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &input),
                      "input tensor");
    const char* in_names[] = {input_name_.c_str()};
    const char* out_names[] = {output_name_.c_str()};
    if (st.ok()) st = Check(api_->Run(session_, nullptr, in_names, &input, 1, out_names, 1, &output), "run");
    OrtTensorTypeAndShapeInfo* info = nullptr;
    size_t n = 0;
    float* data = nullptr;
    if (st.ok()) st = Check(api_->GetTensorTypeAndShape(output, &info), "output shape");
    if (st.ok()) st = Check(api_->GetTensorShapeElementCount(info, &n), "output shape");
    if (st.ok()) st = Check(api_->GetTensorMutableData(output, reinterpret_cast<void**>(&data)), "output data");
    if (st.ok()) out->assign(data, data + n);
    if (info) api_->ReleaseTensorTypeAndShapeInfo(info);
    if (output) api_->ReleaseValue(output);
    if (input) api_->ReleaseValue(input);
    return st;
  }

  std::vector<int64_t> input_shape() const override { return input_shape_; }
  std::string name() const override { return "onnxruntime"; }
  std::string version() const override { return OrtGetApiBase()->GetVersionString(); }
  bool concurrent_runs_safe() const override { return true; }  // OrtApi::Run is thread-safe on one session

 private:
  Status Check(OrtStatus* s, const std::string& what) const {
    if (s == nullptr) return Status::OK();
    std::string msg = "onnxruntime: " + what + ": " + api_->GetErrorMessage(s);
    api_->ReleaseStatus(s);
    return Status::Error(msg);
  }

  const OrtApi* api_ = nullptr;
  OrtEnv* env_ = nullptr;
  OrtSessionOptions* options_ = nullptr;
  OrtSession* session_ = nullptr;
  OrtMemoryInfo* memory_info_ = nullptr;
  std::string input_name_, output_name_;
  std::vector<int64_t> input_shape_;
};

}  // namespace

std::unique_ptr<Engine> CreateEngine() { return std::make_unique<OnnxRuntimeEngine>(); }
const char* BuiltEngineName() { return "onnxruntime"; }
// The CPU provider runs the .onnx in the precision it was exported with; a config cannot change it.
std::vector<IgnoredSetting> EngineIgnoredSettings(const Config& cfg) {
  if (cfg.precision == "FP32") return {};
  return {{"precision", cfg.precision, "onnxruntime runs the .onnx model in the precision it was exported with (fp32)"}};
}

}  // namespace edgeclas

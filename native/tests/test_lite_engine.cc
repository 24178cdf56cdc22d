// The Paddle Lite engine on a real .nb: built with EDGECLAS_ENGINE=lite, run on ARM under qemu or on the x86
// host (ctest or directly). The model comes from the environment: EDGECLAS_TEST_NB=path/to/model.nb, made by
// `edgeclas convert --to nb --target arm` (x86 on the host), and EDGECLAS_TEST_NB_CROP=its input size (a .nb
// does not tell the light API its input shape before the first run); tests/test_native_lite.py passes both.
// Without them every test here that needs the model is skipped, saying so.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <dlfcn.h>
#endif

#include "edgeclas/config.h"
#include "edgeclas/engine.h"
#include "edgeclas/stats.h"

#ifndef EDGECLAS_LITE_VERSION
#define EDGECLAS_LITE_VERSION ""
#endif

namespace edgeclas {
namespace {

std::string TestModel() {
  const char* p = std::getenv("EDGECLAS_TEST_NB");
  return p ? p : "";
}

int TestCrop() {
  const char* p = std::getenv("EDGECLAS_TEST_NB_CROP");
  return p ? std::atoi(p) : 0;
}

#define REQUIRE_MODEL()                                                                          \
  do {                                                                                           \
    if (TestModel().empty() || TestCrop() <= 0)                                                  \
      GTEST_SKIP() << "EDGECLAS_TEST_NB / EDGECLAS_TEST_NB_CROP are not set (the arm .nb to run)"; \
  } while (0)

Config ConfigFor(const std::string& model, int threads = 1, const std::string& precision = "FP32") {
  Config c;
  c.clas_model_file = model;
  c.num_threads = threads;
  c.power_mode = 3;  // no binding: qemu's host CPUs are not the profile's clusters
  c.precision = precision;
  return c;
}

std::vector<float> RunOnce(Engine* e, float value) {
  const std::vector<int64_t> shape = {1, 3, TestCrop(), TestCrop()};
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  std::vector<float> in(n);
  for (size_t i = 0; i < n; ++i) in[i] = value * static_cast<float>((i % 7) + 1) / 7.0f;
  std::vector<float> out;
  Status st = e->Run(in.data(), shape, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

std::string CopyWithVersion(const std::string& src, const std::string& dst, const char* version) {
  std::ifstream in(src, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string field(16, '\0');
  field.replace(0, std::string(version).size(), version);
  bytes.replace(2, 16, field);  // after the u16 meta version
  std::ofstream(dst, std::ios::binary) << bytes;
  return dst;
}

TEST(LiteEngine, RunsTheModelAndGivesProbabilities) {
  REQUIRE_MODEL();
  auto e = CreateEngine();
  Status st = e->Load(ConfigFor(TestModel()));
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(e->name(), "lite");
  EXPECT_FALSE(e->version().empty());
  const std::vector<int64_t> shape = e->input_shape();
  if (!shape.empty()) EXPECT_EQ(shape, (std::vector<int64_t>{-1, 3, TestCrop(), TestCrop()}));
  std::vector<float> probs = RunOnce(e.get(), 0.5f);
  ASSERT_GE(probs.size(), 2u);
  EXPECT_NEAR(std::accumulate(probs.begin(), probs.end(), 0.0), 1.0, 1e-4);  // the softmax head
  for (float p : probs) EXPECT_TRUE(p >= 0 && p <= 1) << p;
  // A different input gives different probabilities: the input reached the model.
  std::vector<float> other = RunOnce(e.get(), -1.5f);
  ASSERT_EQ(other.size(), probs.size());
  EXPECT_GT(std::fabs(other[0] - probs[0]), 1e-7);
  EXPECT_EQ(e->precision(), "FP32");
  EXPECT_TRUE(e->notes().empty());
}

// One test name on every target (ctest lists tests by scanning this file, #if or not).
TEST(LiteEngine, ThreadCountReachesTheKernels) {
  REQUIRE_MODEL();
#if defined(__x86_64__)
  // Paddle Lite's x86 kernels take their threads from OpenBLAS (edgeclas's host build has no MKL): the engine
  // gives num_threads to OpenBLAS, which reports it back.
  using GetThreads = int (*)();
  auto blas_threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  ASSERT_NE(blas_threads, nullptr) << "the x86 library is expected to link OpenBLAS";
  auto one = CreateEngine();
  ASSERT_TRUE(one->Load(ConfigFor(TestModel(), 1)).ok());
  EXPECT_EQ(blas_threads(), 1);
  std::vector<float> a = RunOnce(one.get(), 0.5f);
  auto four = CreateEngine();
  ASSERT_TRUE(four->Load(ConfigFor(TestModel(), 4)).ok());
  EXPECT_EQ(blas_threads(), 4);
  EXPECT_TRUE(four->notes().empty());
  std::vector<float> b = RunOnce(four.get(), 0.5f);
#else
  auto one = CreateEngine();
  ASSERT_TRUE(one->Load(ConfigFor(TestModel(), 1)).ok());
  std::vector<float> a = RunOnce(one.get(), 0.5f);
  const int before = ProcessThreads();  // a team of one thread starts no OpenMP workers
  auto four = CreateEngine();
  ASSERT_TRUE(four->Load(ConfigFor(TestModel(), 4)).ok());
  std::vector<float> b = RunOnce(four.get(), 0.5f);
  // Paddle Lite runs its kernels on an OpenMP team of num_threads: three more threads now (OpenMP's own
  // default would be one per CPU of this machine, not four).
  EXPECT_GE(ProcessThreads() - before, 3) << "before " << before;
#endif
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << i;  // same answer on any thread count
}

TEST(LiteEngine, Fp16IsIgnoredWithTheReasonWhenTheLibraryHasNoFp16Kernels) {
  REQUIRE_MODEL();
  const Config cfg = ConfigFor(TestModel(), 1, "FP16");
  const std::vector<IgnoredSetting> ignored = EngineIgnoredSettings(cfg);
  auto e = CreateEngine();
  ASSERT_TRUE(e->Load(cfg).ok());
#if EDGECLAS_LITE_FP16
  EXPECT_TRUE(ignored.empty());  // applied in Load instead
  // Requested (with the caveat that Paddle Lite may stay FP32 silently), or FP32 on a CPU without FP16: a note
  // either way.
  ASSERT_EQ(e->notes().size(), 1u);
  const std::string want = e->precision() == "FP16" ? "stays FP32 without saying so" : "no ARMv8.2 FP16 arithmetic";
  EXPECT_NE(e->notes()[0].find(want), std::string::npos) << e->notes()[0];
#else
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_EQ(ignored[0].key, "precision");
  EXPECT_NE(ignored[0].reason.find("built without ARMv8.2 FP16 kernels"), std::string::npos) << ignored[0].reason;
  EXPECT_NE(ignored[0].reason.find("--fp16"), std::string::npos) << ignored[0].reason;
  EXPECT_EQ(e->precision(), "FP32");
  EXPECT_TRUE(e->notes().empty());
#endif
  EXPECT_GE(RunOnce(e.get(), 0.5f).size(), 2u);
}

TEST(LiteEngine, Int8IsIgnoredWithTheReason) {
  const std::vector<IgnoredSetting> ignored = EngineIgnoredSettings(ConfigFor("m.nb", 1, "INT8"));
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_NE(ignored[0].reason.find("--quant int8"), std::string::npos) << ignored[0].reason;
  EXPECT_TRUE(EngineIgnoredSettings(ConfigFor("m.nb", 1, "FP32")).empty());
}

TEST(LiteEngine, ModelFromAnotherOptVersionIsRefusedBeforePaddleLiteSeesIt) {
  REQUIRE_MODEL();
  if (std::string(EDGECLAS_LITE_VERSION).empty())
    GTEST_SKIP() << "built without -DEDGECLAS_LITE_VERSION (edgeclas build passes the SDK's version)";
  const std::string other = CopyWithVersion(TestModel(), "lite_engine_test_v2.12.nb", "v2.12");
  auto e = CreateEngine();
  Status st = e->Load(ConfigFor(other));
  std::remove(other.c_str());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("opt v2.12"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(EDGECLAS_LITE_VERSION), std::string::npos) << st.message();
}

TEST(LiteEngine, FilesThatAreNotNbModelsAreErrorsNotAborts) {
  const char* garbage = "lite_engine_test_garbage.nb";
  std::ofstream(garbage, std::ios::binary) << std::string(4096, '\x7f');
  auto e = CreateEngine();
  Status st = e->Load(ConfigFor(garbage));
  std::remove(garbage);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a Paddle Lite .nb model"), std::string::npos) << st.message();
  st = e->Load(ConfigFor("missing_model.nb"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot open"), std::string::npos) << st.message();
  st = e->Load(ConfigFor("model.onnx"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a Paddle Lite .nb"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace edgeclas

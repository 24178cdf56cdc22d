// Unit tests of the engine-free core; run on the host and, through ctest + qemu, on armv7/armv8 builds.
#include <gtest/gtest.h>

#include <sched.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#include "edgeclas/affinity.h"
#include "edgeclas/config.h"
#include "edgeclas/image.h"
#include "edgeclas/output.h"
#include "edgeclas/postprocess.h"
#include "edgeclas/preprocess.h"
#include "edgeclas/stats.h"

namespace edgeclas {
namespace {

const char kPaddleClasConfig[] =
    "clas_model_file ./MobileNetV3_large_x1_0.nb\n"
    "label_path ./imagenet1k_label_list.txt\n"
    "resize_short_size 256\n"
    "crop_size 224\n"
    "visualize 0\n"
    "num_threads 1\n"
    "batch_size 1\n"
    "precision FP32\n"
    "runtime_device arm_cpu\n"
    "enable_benchmark 0\n"
    "tipc_benchmark 0\n";

std::vector<uint8_t> RandomImage(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3);
  for (auto& v : img) v = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

// Straightforward double-precision bilinear (cv2 INTER_LINEAR half-pixel rules) of the full image,
// then crop and normalise: an independent reference for the optimised windowed implementation.
std::vector<float> ReferencePreprocess(const std::vector<uint8_t>& img, int w, int h, const PreprocessParams& p) {
  int rw = 0, rh = 0;
  ResizeShortSize(w, h, p.resize_short, &rw, &rh);
  auto coord = [](int d, int src, int dst, int* i0, int* i1, double* f) {
    double x = (d + 0.5) * (static_cast<double>(src) / dst) - 0.5;
    int s = static_cast<int>(std::floor(x));
    *f = x - s;
    if (s < 0) *f = 0, s = 0;
    if (s >= src - 1) *f = 0, s = src - 1;
    *i0 = s;
    *i1 = std::min(s + 1, src - 1);
  };
  const int c = p.crop_size, top = (rh - c) / 2, left = (rw - c) / 2;
  std::vector<float> out(3 * c * c);
  for (int y = 0; y < c; ++y)
    for (int x = 0; x < c; ++x) {
      int y0, y1, x0, x1;
      double fy, fx;
      coord(top + y, h, rh, &y0, &y1, &fy);
      coord(left + x, w, rw, &x0, &x1, &fx);
      for (int ch = 0; ch < 3; ++ch) {
        auto px = [&](int yy, int xx) { return static_cast<double>(img[(static_cast<size_t>(yy) * w + xx) * 3 + ch]); };
        double v = (px(y0, x0) * (1 - fx) + px(y0, x1) * fx) * (1 - fy) + (px(y1, x0) * (1 - fx) + px(y1, x1) * fx) * fy;
        out[ch * c * c + y * c + x] = static_cast<float>((v * p.scale - p.mean[ch]) / p.std[ch]);
      }
    }
  return out;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Config, PaddleClasConfigParsesUnchanged) {
  Config c;
  std::vector<std::string> warnings;
  ASSERT_TRUE(ParseConfig(kPaddleClasConfig, "deploy/config.txt", &c, &warnings).ok());
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.clas_model_file, "./MobileNetV3_large_x1_0.nb");
  EXPECT_EQ(c.label_path, "./imagenet1k_label_list.txt");
  EXPECT_EQ(c.resize_short_size, 256);
  EXPECT_EQ(c.crop_size, 224);
  EXPECT_EQ(c.num_threads, 1);
  EXPECT_EQ(c.precision, "FP32");
  EXPECT_EQ(c.base_dir, "deploy");
  // Defaults of the edgeclas keys.
  EXPECT_EQ(c.topk, 5);
  EXPECT_EQ(c.power_mode, 0);
  EXPECT_EQ(c.output, OutputFormat::kText);
}

TEST(Config, CommentsBlankLinesAndNewKeys) {
  Config c;
  std::vector<std::string> w;
  const char* text =
      "# edgeclas\n\n   \nclas_model_file m.onnx  # trailing comment\r\nnum_threads 4\npower_mode 2\n"
      "topk 3\nwarmup 2\nrepeats 7\noutput json\nmean 0.5, 0.5, 0.5\nstd [0.5 0.25 0.5]\nscale 1/255\n"
      "channel_order BGR\nengine onnxruntime\ndecode_threads 3\n";
  Status st = ParseConfig(text, "c.txt", &c, &w);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.clas_model_file, "m.onnx");
  EXPECT_EQ(c.num_threads, 4);
  EXPECT_EQ(c.power_mode, 2);
  EXPECT_EQ(c.topk, 3);
  EXPECT_EQ(c.warmup, 2);
  EXPECT_EQ(c.repeats, 7);
  EXPECT_EQ(c.output, OutputFormat::kJson);
  EXPECT_FLOAT_EQ(c.std[1], 0.25f);
  EXPECT_FLOAT_EQ(c.scale, 1.0f / 255.0f);
  EXPECT_EQ(c.channel_order, "BGR");
  EXPECT_EQ(c.decode_threads, 3);
}

TEST(Config, UnknownKeyWarnsWithLine) {
  Config c;
  std::vector<std::string> w;
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\nnum_thread 2\n", "c.txt", &c, &w).ok());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("c.txt:2"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("num_thread"), std::string::npos) << w[0];
}

// PaddleClas keys either take effect or are listed as ignored with the reason; never both.
TEST(Config, PaddleClasKeysTakeEffectOrAreIgnored) {
  Config c;
  std::vector<std::string> w;
  const char* text =
      "clas_model_file m.nb\nbatch_size 4\nvisualize 1\nruntime_device arm_gpu\ntipc_benchmark 1\nprecision fp16\n";
  ASSERT_TRUE(ParseConfig(text, "c.txt", &c, &w).ok());
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(c.precision, "FP16");  // the engine decides about precision (EngineIgnoredSettings)
  std::vector<std::string> keys;
  for (const auto& i : c.ignored) {
    keys.push_back(i.key);
    EXPECT_FALSE(i.reason.empty()) << i.key;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"batch_size", "visualize", "runtime_device", "tipc_benchmark"}));
  EXPECT_EQ(IgnoredText(c, c.ignored[0]),
            "c.txt: batch_size 4 ignored: clas_system runs one image per inference (batch 1)");
  for (const auto& kv : SettingsInEffect(c, c.ignored)) {
    for (const auto& k : keys) EXPECT_NE(kv.first, k);
  }
  Config d;
  ASSERT_TRUE(ParseConfig(kPaddleClasConfig, "config.txt", &d, &w).ok());
  EXPECT_TRUE(d.ignored.empty());  // PaddleClas's own defaults are all honoured
  Status st = ParseConfig("clas_model_file m.nb\nprecision bf16\n", "c.txt", &d, &w);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("c.txt:2: precision"), std::string::npos) << st.message();
}

TEST(Config, EnableBenchmarkRunsLikePaddleClas) {
  Config c;
  std::vector<std::string> w;
  ASSERT_TRUE(ParseConfig("clas_model_file m.nb\nenable_benchmark 1\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.warmup, 10);  // PaddleClas: 1000 runs per image, the first 10 untimed
  EXPECT_EQ(c.repeats, 990);
  EXPECT_TRUE(c.ignored.empty());
  ASSERT_TRUE(ParseConfig("clas_model_file m.nb\nenable_benchmark 1\nrepeats 5\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.warmup, 10);
  EXPECT_EQ(c.repeats, 5);  // an explicit key wins
  ASSERT_TRUE(ParseConfig("clas_model_file m.nb\nenable_benchmark 1\nwarmup 1\nrepeats 5\n", "c.txt", &c, &w).ok());
  ASSERT_EQ(c.ignored.size(), 1u);
  EXPECT_EQ(c.ignored[0].key, "enable_benchmark");
  ASSERT_TRUE(ParseConfig("clas_model_file m.nb\nenable_benchmark 0\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.warmup, 0);
  EXPECT_EQ(c.repeats, 1);
}

TEST(Config, BadValuesNameKeyAndLine) {
  struct Case {
    const char* line;
    const char* key;
  } cases[] = {{"num_threads abc", "num_threads"}, {"num_threads 0", "num_threads"},
               {"power_mode 7", "power_mode"},     {"resize_short_size 12x", "resize_short_size"},
               {"mean 0.1 0.2", "mean"},           {"std 1 0 1", "std"},
               {"output xml", "output"},           {"scale -1", "scale"},
               {"topk", "topk"},                   {"num_threads 99999999999999999999", "num_threads"}};
  for (const auto& k : cases) {
    Config c;
    std::vector<std::string> w;
    Status st = ParseConfig(std::string("clas_model_file m.onnx\n") + k.line + "\n", "c.txt", &c, &w);
    ASSERT_FALSE(st.ok()) << k.line;
    EXPECT_NE(st.message().find("c.txt:2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(k.key), std::string::npos) << st.message();
  }
}

TEST(Config, MissingModelAndCropLargerThanResize) {
  Config c;
  Status st = ParseConfig("crop_size 224\n", "c.txt", &c, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("clas_model_file"), std::string::npos);
  st = ParseConfig("clas_model_file m.onnx\nresize_short_size 100\ncrop_size 224\n", "c.txt", &c, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("crop_size"), std::string::npos);
}

TEST(Preprocess, ResizeShortRoundsHalfToEven) {
  int w = 0, h = 0;
  ResizeShortSize(5, 2, 3, &w, &h);  // 7.5 -> 8
  EXPECT_EQ(w, 8);
  EXPECT_EQ(h, 3);
  ResizeShortSize(5, 4, 2, &w, &h);  // 2.5 -> 2
  EXPECT_EQ(w, 2);
  EXPECT_EQ(h, 2);
  ResizeShortSize(480, 640, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 341);  // 341.33
}

TEST(Preprocess, IdentityResizeIsExactNormalisation) {
  const int w = 9, h = 7;
  std::vector<uint8_t> img = RandomImage(w, h, 1);
  PreprocessParams p;
  p.resize_short = 7;
  p.crop_size = 7;
  std::vector<float> out;
  ASSERT_TRUE(Preprocess(img.data(), w, h, p, &out, PreprocessImpl::kScalar).ok());
  ASSERT_EQ(out.size(), 3u * 7 * 7);
  // Crop is centred: left = (9 - 7) / 2 = 1.
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 7; ++x) {
        float v = img[(y * w + x + 1) * 3 + c];
        EXPECT_NEAR(out[c * 49 + y * 7 + x], (v * p.scale - p.mean[c]) / p.std[c], 1e-5);
      }
}

TEST(Preprocess, MatchesDoubleReferenceOnOddAndPortraitSizes) {
  const int sizes[][2] = {{97, 61}, {61, 97}, {64, 64}, {300, 17}, {33, 200}, {128, 64}};
  for (const auto& s : sizes) {
    std::vector<uint8_t> img = RandomImage(s[0], s[1], s[0] * 7 + s[1]);
    PreprocessParams p;
    p.resize_short = 40;
    p.crop_size = 32;
    std::vector<float> out;
    ASSERT_TRUE(Preprocess(img.data(), s[0], s[1], p, &out, PreprocessImpl::kScalar).ok());
    EXPECT_LT(MaxAbsDiff(out, ReferencePreprocess(img, s[0], s[1], p)), 1e-4) << s[0] << "x" << s[1];
  }
}

TEST(Preprocess, BgrSwapsChannels) {
  std::vector<uint8_t> img = RandomImage(20, 20, 3);
  PreprocessParams rgb;
  rgb.resize_short = 16;
  rgb.crop_size = 16;
  rgb.mean = {0, 0, 0};
  rgb.std = {1, 1, 1};
  PreprocessParams bgr = rgb;
  bgr.bgr = true;
  std::vector<float> a, b;
  ASSERT_TRUE(Preprocess(img.data(), 20, 20, rgb, &a).ok());
  ASSERT_TRUE(Preprocess(img.data(), 20, 20, bgr, &b).ok());
  const size_t plane = 16 * 16;
  for (size_t i = 0; i < plane; ++i) {
    EXPECT_EQ(a[i], b[2 * plane + i]);
    EXPECT_EQ(a[2 * plane + i], b[i]);
  }
}

TEST(Preprocess, ScalarAndNeonAgree) {
  if (!HasNeonPreprocess()) GTEST_SKIP() << "no NEON in this build (host); runs on armv7/armv8 under qemu";
  const int sizes[][2] = {{97, 61}, {61, 97}, {256, 256}, {301, 203}};
  for (const auto& s : sizes) {
    std::vector<uint8_t> img = RandomImage(s[0], s[1], s[0] + s[1]);
    PreprocessParams p;
    p.resize_short = 58;
    p.crop_size = 50;  // not a multiple of 4: the NEON loop's scalar tail is exercised
    std::vector<float> a, b;
    ASSERT_TRUE(Preprocess(img.data(), s[0], s[1], p, &a, PreprocessImpl::kScalar).ok());
    ASSERT_TRUE(Preprocess(img.data(), s[0], s[1], p, &b, PreprocessImpl::kNeon).ok());
    EXPECT_LT(MaxAbsDiff(a, b), 1e-5) << s[0] << "x" << s[1];
  }
}

TEST(Preprocess, TooSmallForCropIsAnError) {
  std::vector<uint8_t> img = RandomImage(10, 10, 4);
  PreprocessParams p;
  p.resize_short = 8;
  p.crop_size = 9;
  std::vector<float> out;
  Status st = Preprocess(img.data(), 10, 10, p, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("crop size 9"), std::string::npos) << st.message();
}

TEST(Image, PngRoundTripIsExactAndCorruptIsAnError) {
  const int w = 13, h = 5;
  std::vector<uint8_t> img = RandomImage(w, h, 5);
  int len = 0;
  unsigned char* png = stbi_write_png_to_mem(img.data(), w * 3, w, h, 3, &len);
  ASSERT_NE(png, nullptr);
  std::vector<uint8_t> bytes(png, png + len);
  STBIW_FREE(png);
  Image out;
  ASSERT_TRUE(DecodeImageMemory(bytes.data(), bytes.size(), "x.png", &out).ok());
  EXPECT_EQ(out.width, w);
  EXPECT_EQ(out.height, h);
  EXPECT_EQ(out.rgb, img);
  bytes.resize(bytes.size() / 3);  // truncated
  Status st = DecodeImageMemory(bytes.data(), bytes.size(), "x.png", &out);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("x.png"), std::string::npos);
  EXPECT_FALSE(DecodeImageMemory(bytes.data(), 0, "empty.png", &out).ok());
  EXPECT_FALSE(DecodeImageFile("/nonexistent/edgeclas.png", &out).ok());
}

TEST(Postprocess, TopKOrdersAndBreaksTiesByClassId) {
  std::vector<float> p = {0.1f, 0.4f, 0.05f, 0.4f, 0.05f};
  auto r = TopK(p, 3, {"a", "b", "c", "d", "e"});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].class_id, 1);
  EXPECT_EQ(r[1].class_id, 3);
  EXPECT_EQ(r[2].class_id, 0);
  EXPECT_EQ(r[1].label, "d");
  EXPECT_EQ(TopK(p, 10).size(), 5u);  // clamped
  EXPECT_EQ(TopK(p, 1)[0].label, "");  // no labels
}

TEST(Postprocess, LabelFileFormats) {
  const std::string path = ::testing::TempDir() + "/edgeclas_labels.txt";
  {
    std::ofstream f(path);
    f << "0 tench, Tinca tinca\n1 goldfish\r\n\n";
  }
  std::vector<std::string> labels;
  ASSERT_TRUE(LoadLabels(path, &labels).ok());
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0], "tench, Tinca tinca");
  EXPECT_EQ(labels[1], "goldfish");
  {
    std::ofstream f(path);
    f << "0 a\n2 b\n";
  }
  Status st = LoadLabels(path, &labels);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(":2:"), std::string::npos) << st.message();
  std::remove(path.c_str());
}

TEST(Stats, PercentilesInterpolateLikeNumpy) {
  LatencyStats s = ComputeStats({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_NEAR(s.p90, 3.7, 1e-12);
  EXPECT_NEAR(s.std, std::sqrt(5.0 / 3.0), 1e-12);  // sample std (n-1)
  EXPECT_DOUBLE_EQ(ComputeStats({7}).std, 0.0);
  EXPECT_EQ(ComputeStats({}).count, 0u);
  EXPECT_GT(PeakRssKb(), 0);
}

TEST(Affinity, ChoosesClustersFromMaxFrequency) {
  // A 4+4 big.LITTLE phone (e.g. Cortex-A55 @ 1.8 GHz + A76 @ 2.4 GHz).
  std::vector<long> f = {1800000, 1800000, 1800000, 1800000, 2400000, 2400000, 2400000, 2400000};
  std::vector<int> online = {0, 1, 2, 3, 4, 5, 6, 7};
  std::string note;
  EXPECT_EQ(ChooseCpus(f, online, 0, &note), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(ChooseCpus(f, online, 1, &note), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(ChooseCpus(f, online, 2, &note), online);
  std::vector<long> unknown(8, -1);
  EXPECT_TRUE(ChooseCpus(unknown, online, 0, &note).empty());
  EXPECT_NE(note.find("cpufreq"), std::string::npos);
  Affinity a = ApplyPowerMode(3);
  EXPECT_FALSE(a.applied);
  EXPECT_FALSE(a.cpus.empty());
}

TEST(Affinity, BindsToTheBigClusterOfAFakeSysfs) {
  // A sysfs tree for two CPUs of different max frequency; cpu1 is the "big" one.
  const std::string root = ::testing::TempDir() + "/edgeclas_sysfs";
  for (int c = 0; c < 2; ++c)
    ASSERT_EQ(std::system(("mkdir -p " + root + "/cpu" + std::to_string(c) + "/cpufreq").c_str()), 0);
  std::ofstream(root + "/online") << "0-1\n";
  std::ofstream(root + "/cpu0/cpufreq/cpuinfo_max_freq") << "1800000\n";
  std::ofstream(root + "/cpu1/cpufreq/cpuinfo_max_freq") << "2400000\n";
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  if (!CPU_ISSET(1, &before)) GTEST_SKIP() << "cpu1 is not available to this process";
  Affinity a = ApplyPowerMode(0, root);
  EXPECT_TRUE(a.applied) << a.note;
  EXPECT_EQ(a.cpus, std::vector<int>{1});
  cpu_set_t now;
  ASSERT_EQ(sched_getaffinity(0, sizeof now, &now), 0);
  EXPECT_EQ(CPU_COUNT(&now), 1);
  EXPECT_TRUE(CPU_ISSET(1, &now));
  sched_setaffinity(0, sizeof before, &before);  // the other tests run unbound
  Affinity none = ApplyPowerMode(0, root + "/missing");
  EXPECT_FALSE(none.applied);
  EXPECT_FALSE(none.note.empty());
}

TEST(Output, JsonEscapesControlCharacters) {
  EXPECT_EQ(JsonEscape("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  ImageResult r;
  r.image = "x.png";
  r.topk = {{1, 0.75f, "cat"}};
  r.probs = {0.25f, 0.75f};
  const std::string j = ImageJson(r);
  EXPECT_NE(j.find("\"class_id\": 1, \"label\": \"cat\", \"score\": 0.75"), std::string::npos) << j;
  EXPECT_NE(ImageText(r).find("\tTop-1, class_id: 1, class_name: cat, score: 0.75"), std::string::npos);
}

}  // namespace
}  // namespace edgeclas

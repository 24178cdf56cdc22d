// Unit tests of the engine-free core; run on the host and, through ctest + qemu, on armv7/armv8 builds.
#include <gtest/gtest.h>

#include <sched.h>

#include <climits>
#include <cmath>
#include <cstring>
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

std::vector<uint8_t> EncodeJpeg(const std::vector<uint8_t>& rgb, int w, int h) {
  std::vector<uint8_t> out;
  stbi_write_jpg_to_func(
      [](void* ctx, void* data, int size) {
        auto* v = static_cast<std::vector<uint8_t>*>(ctx);
        v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
      },
      &out, w, h, 3, rgb.data(), 95);
  return out;
}

std::vector<uint8_t> EncodeBmp(const std::vector<uint8_t>& rgb, int w, int h) {
  std::vector<uint8_t> out;
  stbi_write_bmp_to_func(
      [](void* ctx, void* data, int size) {
        auto* v = static_cast<std::vector<uint8_t>*>(ctx);
        v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
      },
      &out, w, h, 3, rgb.data());
  return out;
}

// A JPEG with an APP1 "Exif" segment right after SOI: TIFF header (II or MM), IFD0 with one SHORT tag 0x0112.
std::vector<uint8_t> WithExifOrientation(const std::vector<uint8_t>& jpeg, int orientation, bool big_endian) {
  auto u16 = [&](std::vector<uint8_t>* v, unsigned x) {
    if (big_endian) v->insert(v->end(), {uint8_t(x >> 8), uint8_t(x)});
    else v->insert(v->end(), {uint8_t(x), uint8_t(x >> 8)});
  };
  auto u32 = [&](std::vector<uint8_t>* v, uint32_t x) {
    if (big_endian) v->insert(v->end(), {uint8_t(x >> 24), uint8_t(x >> 16), uint8_t(x >> 8), uint8_t(x)});
    else v->insert(v->end(), {uint8_t(x), uint8_t(x >> 8), uint8_t(x >> 16), uint8_t(x >> 24)});
  };
  std::vector<uint8_t> tiff = {uint8_t(big_endian ? 'M' : 'I'), uint8_t(big_endian ? 'M' : 'I')};
  u16(&tiff, 42);
  u32(&tiff, 8);
  u16(&tiff, 1);  // one entry
  u16(&tiff, 0x0112);
  u16(&tiff, 3);
  u32(&tiff, 1);
  u16(&tiff, static_cast<unsigned>(orientation));
  u16(&tiff, 0);
  u32(&tiff, 0);  // no next IFD
  std::vector<uint8_t> seg = {'E', 'x', 'i', 'f', 0, 0};
  seg.insert(seg.end(), tiff.begin(), tiff.end());
  std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  const size_t len = seg.size() + 2;
  out.insert(out.end(), {0xFF, 0xE1, uint8_t(len >> 8), uint8_t(len)});
  out.insert(out.end(), seg.begin(), seg.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

// Offset of the first marker segment `marker` (e.g. 0xC0 SOF0, 0xC4 DHT) in a JPEG, or 0.
size_t FindSegment(const std::vector<uint8_t>& j, uint8_t marker) {
  size_t pos = 2;
  while (pos + 4 <= j.size() && j[pos] == 0xFF) {
    if (j[pos + 1] == marker) return pos;
    pos += 2 + ((j[pos + 2] << 8) | j[pos + 3]);
  }
  return 0;
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
  ASSERT_TRUE(ParseConfig("clas_model_file m.nb\nprecision fp16\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.precision, "FP16");  // PaddleClas writes FP32; any case is accepted and normalised
}

TEST(Config, ConcurrentImagesRangeAndWhatItOverrides) {
  Config c;
  std::vector<std::string> w;
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.concurrent_images, 1);  // one inference at a time unless asked: latency samples never overlap
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\nconcurrent_images 4\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.concurrent_images, 4);
  EXPECT_TRUE(c.ignored.empty());
  Status st = ParseConfig("clas_model_file m.onnx\nconcurrent_images 0\n", "c.txt", &c, &w);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("c.txt:2: concurrent_images: bad value '0' (expected an integer in 1..256)"),
            std::string::npos)
      << st.message();
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\nconcurrent_images 2\ndecode_threads 3\n", "c.txt", &c, &w).ok());
  ASSERT_EQ(c.ignored.size(), 1u);  // each worker decodes its own images
  EXPECT_EQ(c.ignored[0].key, "decode_threads");
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
  EXPECT_EQ(c.batch_size, 4);  // honoured: 4 images per inference
  EXPECT_EQ(keys, (std::vector<std::string>{"visualize", "runtime_device", "tipc_benchmark"}));
  EXPECT_EQ(IgnoredText(c, c.ignored[0]), "c.txt: visualize 1 ignored: no image is drawn; results are printed");
  for (const auto& kv : SettingsInEffect(c, c.ignored)) {
    for (const auto& k : keys) EXPECT_NE(kv.first, k);
  }
  Status big = ParseConfig("clas_model_file m.nb\nbatch_size 65\n", "c.txt", &c, &w);
  EXPECT_NE(big.message().find("c.txt:2: batch_size: bad value '65' (expected an integer in 1..64)"), std::string::npos)
      << big.message();
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
               {"topk", "topk"},                   {"num_threads 99999999999999999999", "num_threads"},
               {"precision FP64", "precision"}};
  for (const auto& k : cases) {
    Config c;
    std::vector<std::string> w;
    Status st = ParseConfig(std::string("clas_model_file m.onnx\n") + k.line + "\n", "c.txt", &c, &w);
    ASSERT_FALSE(st.ok()) << k.line;
    EXPECT_NE(st.message().find("c.txt:2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(k.key), std::string::npos) << st.message();
  }
}

TEST(Config, PostProcessKeys) {
  Config c;
  std::vector<std::string> w;
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.postprocess, PostProcessKind::kTopk);
  EXPECT_LT(c.threshold, 0.0f);  // unset
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\nmultilabel 1\nthreshold 0.3\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.postprocess, PostProcessKind::kMultiLabel);
  EXPECT_FLOAT_EQ(c.threshold, 0.3f);
  ASSERT_TRUE(ParseConfig("clas_model_file m.onnx\npostprocess ThreshOutput\nthreshold 0.9\n", "c.txt", &c, &w).ok());
  EXPECT_EQ(c.postprocess, PostProcessKind::kThreshOutput);
  EXPECT_TRUE(w.empty());
  for (const char* bad : {"threshold 1.5", "threshold -0.1", "threshold x", "multilabel 2", "postprocess topk"}) {
    Status st = ParseConfig(std::string("clas_model_file m.onnx\n") + bad + "\n", "c.txt", &c, &w);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("c.txt:2"), std::string::npos) << st.message();
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

TEST(Preprocess, ScalarAndSimdAgree) {
  if (SimdPreprocess()[0] == '\0') GTEST_SKIP() << "this build has no SIMD path (neither NEON nor SSE2)";
  const int sizes[][2] = {{97, 61}, {61, 97}, {256, 256}, {301, 203}};
  for (const auto& s : sizes) {
    std::vector<uint8_t> img = RandomImage(s[0], s[1], s[0] + s[1]);
    PreprocessParams p;
    p.resize_short = 58;
    p.crop_size = 50;  // rows of 3 x 51..97 bytes: the SIMD loop's scalar tail is exercised
    std::vector<float> a, b;
    ASSERT_TRUE(Preprocess(img.data(), s[0], s[1], p, &a, PreprocessImpl::kScalar).ok());
    ASSERT_TRUE(Preprocess(img.data(), s[0], s[1], p, &b, PreprocessImpl::kSimd).ok());
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

TEST(Config, NonFiniteOrOverflowingNumbersAreRefused) {
  struct Case {
    const char* line;
    const char* key;
  } cases[] = {{"scale 1e39", "scale"},       {"mean 3e38 0.456 0.406", "mean"}, {"std 1e-45 0.224 0.225", "std"},
               {"mean 1e39 0 0", "mean"},     {"std 0.2 nan 0.2", "std"},        {"scale inf", "scale"},
               {"scale 1/1e-39", "scale"},    {"max_image_pixels 0", "max_image_pixels"},
               {"jpeg_dct_scaling 2", "jpeg_dct_scaling"}};
  for (const auto& k : cases) {
    Config c;
    Status st = ParseConfig(std::string("clas_model_file m.onnx\n") + k.line + "\n", "c.txt", &c, nullptr);
    ASSERT_FALSE(st.ok()) << k.line;
    EXPECT_NE(st.message().find("c.txt:2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(k.key), std::string::npos) << st.message();
  }
  // Finite in range, but the normalised pixel is not: refused too, naming the line of the key to change.
  Config c;
  Status st = ParseConfig("clas_model_file m.onnx\nscale 1/255\nstd 1e-40 1 1\n", "c.txt", &c, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("c.txt:3: std"), std::string::npos) << st.message();
  EXPECT_TRUE(ParseConfig("clas_model_file m.onnx\njpeg_dct_scaling 1\nmax_image_pixels 1000\n", "c.txt", &c,
                          nullptr).ok());
#ifdef EDGECLAS_HAVE_LIBJPEG
  EXPECT_TRUE(c.jpeg_dct_scaling);
#else  // stb builds cannot scale: the key is reported as ignored, never shown as in effect
  EXPECT_FALSE(c.jpeg_dct_scaling);
  ASSERT_EQ(c.ignored.size(), 1u);
  EXPECT_EQ(c.ignored[0].key, "jpeg_dct_scaling");
#endif
  EXPECT_EQ(c.max_image_pixels, 1000);
}

TEST(Config, SpecialFilesAreRefusedAtOnce) {
  Config c;
  Status st = LoadConfigFile("/dev/zero", &c, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a regular file"), std::string::npos) << st.message();
  std::vector<std::string> labels;
  st = LoadLabels("/dev/zero", &labels);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/dev/zero"), std::string::npos) << st.message();
  EXPECT_FALSE(LoadLabels(::testing::TempDir(), &labels).ok());  // a directory
}

TEST(Image, JpegDecodesAndTruncatedOrCorruptJpegIsAnError) {
  const int w = 37, h = 21;
  std::vector<uint8_t> jpeg = EncodeJpeg(RandomImage(w, h, 6), w, h);
  Image out;
  Status st = DecodeImageMemory(jpeg.data(), jpeg.size(), "x.jpg", &out);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(out.width, w);
  EXPECT_EQ(out.height, h);
  EXPECT_EQ(out.rgb.size(), size_t{w} * h * 3);
  for (size_t cut : {jpeg.size() / 2, jpeg.size() - 2, size_t{3}, size_t{20}}) {
    st = DecodeImageMemory(jpeg.data(), cut, "cut.jpg", &out);
    EXPECT_FALSE(st.ok()) << cut;
    EXPECT_NE(st.message().find("cut.jpg"), std::string::npos) << st.message();
    EXPECT_TRUE(out.rgb.empty());
  }
  // A Huffman table whose code counts add up past 256 (stb 2.27 wrote past its table on this).
  std::vector<uint8_t> bad = jpeg;
  const size_t dht = FindSegment(bad, 0xC4);
  ASSERT_NE(dht, 0u);
  for (int i = 0; i < 16; ++i) bad[dht + 5 + i] = 200;
  EXPECT_FALSE(DecodeImageMemory(bad.data(), bad.size(), "dht.jpg", &out).ok());
}

TEST(Image, DecompressionBombsAreRefusedBeforeDecoding) {
  std::vector<uint8_t> jpeg = EncodeJpeg(RandomImage(16, 16, 7), 16, 16);
  const size_t sof = FindSegment(jpeg, 0xC0);
  ASSERT_NE(sof, 0u);
  jpeg[sof + 5] = 0xFF, jpeg[sof + 6] = 0x00;  // height 65280
  jpeg[sof + 7] = 0xFF, jpeg[sof + 8] = 0x00;  // width 65280
  Image out;
  Status st = DecodeImageMemory(jpeg.data(), jpeg.size(), "bomb.jpg", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("max_image_pixels"), std::string::npos) << st.message();
  std::vector<uint8_t> bmp = EncodeBmp(RandomImage(4, 4, 8), 4, 4);
  const int32_t big = 30000;
  std::memcpy(&bmp[18], &big, 4);
  std::memcpy(&bmp[22], &big, 4);
  st = DecodeImageMemory(bmp.data(), bmp.size(), "bomb.bmp", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("max_image_pixels"), std::string::npos) << st.message();
  DecodeOptions small;
  small.max_pixels = 100;
  std::vector<uint8_t> ok = EncodeJpeg(RandomImage(16, 16, 9), 16, 16);
  EXPECT_FALSE(DecodeImageMemory(ok.data(), ok.size(), "x.jpg", &out, small).ok());
}

TEST(Image, BmpDecodesAndHeightIntMinIsRefused) {
  std::vector<uint8_t> img = RandomImage(5, 3, 10);
  std::vector<uint8_t> bmp = EncodeBmp(img, 5, 3);
  Image out;
  ASSERT_TRUE(DecodeImageMemory(bmp.data(), bmp.size(), "x.bmp", &out).ok());
  EXPECT_EQ(out.rgb, img);
  const int32_t int_min = INT32_MIN;
  std::memcpy(&bmp[22], &int_min, 4);
  Status st = DecodeImageMemory(bmp.data(), bmp.size(), "min.bmp", &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("min.bmp"), std::string::npos);
  EXPECT_FALSE(DecodeImageMemory(reinterpret_cast<const uint8_t*>("GIF89a...."), 10, "x.gif", &out).ok());
}

TEST(Exif, OrientationIsReadFromBothByteOrdersAndMalformedIsIgnored) {
  std::vector<uint8_t> jpeg = EncodeJpeg(RandomImage(8, 4, 11), 8, 4);
  EXPECT_EQ(ExifOrientation(jpeg.data(), jpeg.size()), 1);
  for (int o = 1; o <= 8; ++o) {
    for (bool be : {false, true}) {
      std::vector<uint8_t> j = WithExifOrientation(jpeg, o, be);
      EXPECT_EQ(ExifOrientation(j.data(), j.size()), o) << o << " " << be;
      // Every prefix parses without reading past it (ASan build) and yields a valid orientation.
      for (size_t n = 0; n < 60; ++n) {
        const int got = ExifOrientation(j.data(), n);
        EXPECT_TRUE(got >= 1 && got <= 8);
      }
    }
  }
  std::vector<uint8_t> j = WithExifOrientation(jpeg, 9, false);
  EXPECT_EQ(ExifOrientation(j.data(), j.size()), 1);  // out of range: ignored, as cv2 does
}

TEST(Exif, OrientationIsAppliedOnDecode) {
  // 3x2 image, pixel value = index; orientation 6 (rotate 90 clockwise) gives 2x3.
  const int w = 3, h = 2;
  Image img;
  img.width = w, img.height = h;
  for (int i = 0; i < w * h; ++i) img.rgb.insert(img.rgb.end(), {uint8_t(i), uint8_t(i), uint8_t(i)});
  auto at = [](const Image& m, int x, int y) { return m.rgb[(static_cast<size_t>(y) * m.width + x) * 3]; };
  const int expect_first[9] = {0, 0, 2, 5, 3, 0, 3, 5, 2};  // top-left pixel after each orientation
  for (int o = 1; o <= 8; ++o) {
    Image m = img;
    ApplyOrientation(o, &m);
    EXPECT_EQ(m.width, o >= 5 ? h : w) << o;
    EXPECT_EQ(at(m, 0, 0), expect_first[o]) << o;
  }
  Image r = img;
  ApplyOrientation(6, &r);  // rows of the result are the source's columns, bottom to top
  EXPECT_EQ((std::vector<int>{at(r, 0, 0), at(r, 1, 0), at(r, 0, 1), at(r, 1, 1), at(r, 0, 2), at(r, 1, 2)}),
            (std::vector<int>{3, 0, 4, 1, 5, 2}));
  std::vector<uint8_t> jpeg = WithExifOrientation(EncodeJpeg(RandomImage(8, 4, 12), 8, 4), 8, true);
  Image out;
  ASSERT_TRUE(DecodeImageMemory(jpeg.data(), jpeg.size(), "x.jpg", &out).ok());
  EXPECT_EQ(out.width, 4);
  EXPECT_EQ(out.height, 8);
  EXPECT_EQ(out.orientation, 8);
}

TEST(Image, JpegDctScalingKeepsTheShortSideAboveTheTarget) {
  std::vector<uint8_t> jpeg = EncodeJpeg(RandomImage(640, 480, 13), 640, 480);
  Image out;
  DecodeOptions opt;
  opt.jpeg_dct_min_short = 100;  // 480 / 4 = 120 >= 100 > 480 / 8 = 60
  ASSERT_TRUE(DecodeImageMemory(jpeg.data(), jpeg.size(), "x.jpg", &out, opt).ok());
#ifdef EDGECLAS_HAVE_LIBJPEG
  EXPECT_EQ(out.jpeg_scale_denom, 4);
  EXPECT_EQ(out.width, 160);
  EXPECT_EQ(out.height, 120);
#else
  EXPECT_EQ(out.jpeg_scale_denom, 1);  // stb_image has no DCT scaling: the full image
  EXPECT_EQ(out.width, 640);
#endif
  opt.jpeg_dct_min_short = 481;
  ASSERT_TRUE(DecodeImageMemory(jpeg.data(), jpeg.size(), "x.jpg", &out, opt).ok());
  EXPECT_EQ(out.width, 640);
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

TEST(Postprocess, DecideLikePaddleClasPostProcess) {
  std::vector<ClassScore> r;
  // Topk: the best k, cut by the threshold when one is set.
  ASSERT_TRUE(Decide({0.1f, 0.6f, 0.3f}, PostProcessKind::kTopk, 2, -1.0f, {"x", "y", "z"}, &r).ok());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].class_id, 1);
  EXPECT_EQ(r[1].label, "z");
  ASSERT_TRUE(Decide({0.1f, 0.6f, 0.3f}, PostProcessKind::kTopk, 3, 0.5f, {}, &r).ok());
  ASSERT_EQ(r.size(), 1u);
  // ThreshOutput: class 1 at or above the threshold, otherwise class 0 scored 1 - p1.
  ASSERT_TRUE(Decide({0.2f, 0.8f}, PostProcessKind::kThreshOutput, 1, 0.9f, {"nobody", "someone"}, &r).ok());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].class_id, 0);
  EXPECT_EQ(r[0].label, "nobody");
  EXPECT_FLOAT_EQ(r[0].score, 0.2f);
  ASSERT_TRUE(Decide({0.1f, 0.9f}, PostProcessKind::kThreshOutput, 1, 0.9f, {}, &r).ok());
  EXPECT_EQ(r[0].class_id, 1);
  EXPECT_FALSE(Decide({0.1f, 0.8f, 0.1f}, PostProcessKind::kThreshOutput, 1, 0.5f, {}, &r).ok());
  // Multi-label: every label at or above the threshold (0.5 unset), in label order; possibly none.
  ASSERT_TRUE(Decide({0.7f, 0.2f, 0.5f}, PostProcessKind::kMultiLabel, 1, -1.0f, {"b", "n", "d"}, &r).ok());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].class_id, 0);
  EXPECT_EQ(r[1].label, "d");
  ASSERT_TRUE(Decide({0.7f, 0.2f, 0.5f}, PostProcessKind::kMultiLabel, 1, 0.8f, {}, &r).ok());
  EXPECT_TRUE(r.empty());
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
  r.topk = {{1, 0.75f, "cat"}, {0, 0.25f, "dog"}};
  r.classes = {{1, 0.75f, "cat"}};  // what the post-processing decided (here: a threshold above 0.25)
  r.probs = {0.25f, 0.75f};
  const std::string j = ImageJson(r);
  EXPECT_NE(j.find("\"class_id\": 1, \"label\": \"cat\", \"score\": 0.75"), std::string::npos) << j;
  EXPECT_NE(j.find("\"classes\": [{\"class_id\": 1, \"label\": \"cat\""), std::string::npos) << j;
  // the text answer lines are the decided classes
  EXPECT_NE(ImageText(r).find("\tTop-1, class_id: 1, class_name: cat, score: 0.75"), std::string::npos);
  EXPECT_EQ(ImageText(r).find("dog"), std::string::npos);
}

}  // namespace
}  // namespace edgeclas

#include "edgeclas/preprocess.h"

#include <algorithm>
#include <cmath>

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>
#define EDGECLAS_HAVE_NEON 1
#endif

namespace edgeclas {
namespace {

// Source index and weights of one output coordinate, as cv::resize does for INTER_LINEAR: half-pixel
// centres, x = (d + 0.5) * src / dst - 0.5, and at the borders the weight collapses onto the edge pixel.
// The fraction is taken in double (measured: OpenCV 5's float-image resize agrees with exact arithmetic
// to ~1e-5 of a pixel level; a float fraction would be off by ~3e-3 at 600 px).
struct Tap {
  int i0, i1;
  float w0, w1;
};

std::vector<Tap> MakeTaps(int src, int dst, int first, int count) {
  const double scale = 1.0 / (static_cast<double>(dst) / src);
  std::vector<Tap> taps(count);
  for (int k = 0; k < count; ++k) {
    const int d = first + k;
    const double x = (d + 0.5) * scale - 0.5;
    int s = static_cast<int>(std::floor(x));
    float f = static_cast<float>(x - s);
    if (s < 0) f = 0, s = 0;
    if (s >= src - 1) f = 0, s = src - 1;
    taps[k] = {s, std::min(s + 1, src - 1), 1.0f - f, f};
  }
  return taps;
}

// Horizontal pass over one source row: crop-width x 3 floats, channels already in output order.
void HorizontalRow(const uint8_t* row, const std::vector<Tap>& xt, bool bgr, float* out) {
  const int c0 = bgr ? 2 : 0, c2 = bgr ? 0 : 2;
  for (size_t k = 0; k < xt.size(); ++k) {
    const uint8_t* a = row + 3 * xt[k].i0;
    const uint8_t* b = row + 3 * xt[k].i1;
    const float w0 = xt[k].w0, w1 = xt[k].w1;
    out[3 * k + 0] = static_cast<float>(a[c0]) * w0 + static_cast<float>(b[c0]) * w1;
    out[3 * k + 1] = static_cast<float>(a[1]) * w0 + static_cast<float>(b[1]) * w1;
    out[3 * k + 2] = static_cast<float>(a[c2]) * w0 + static_cast<float>(b[c2]) * w1;
  }
}

// Vertical blend of two horizontally resized rows, normalisation and HWC -> CHW for one output row.
void VerticalScalar(const float* r0, const float* r1, float w0, float w1, int n, const float* scale_c,
                    const float* bias_c, float* p0, float* p1, float* p2) {
  for (int x = 0; x < n; ++x) {
    float* planes[3] = {p0, p1, p2};
    for (int c = 0; c < 3; ++c) {
      const float v = r0[3 * x + c] * w0 + r1[3 * x + c] * w1;
      planes[c][x] = v * scale_c[c] + bias_c[c];
    }
  }
}

#ifdef EDGECLAS_HAVE_NEON
void VerticalNeon(const float* r0, const float* r1, float w0, float w1, int n, const float* scale_c,
                  const float* bias_c, float* p0, float* p1, float* p2) {
  const float32x4_t vw0 = vdupq_n_f32(w0), vw1 = vdupq_n_f32(w1);
  const float32x4_t s0 = vdupq_n_f32(scale_c[0]), s1 = vdupq_n_f32(scale_c[1]), s2 = vdupq_n_f32(scale_c[2]);
  const float32x4_t b0 = vdupq_n_f32(bias_c[0]), b1 = vdupq_n_f32(bias_c[1]), b2 = vdupq_n_f32(bias_c[2]);
  int x = 0;
  for (; x + 4 <= n; x += 4) {
    // vld3 de-interleaves RGBRGB... into three channel vectors: the HWC -> CHW transpose for free.
    const float32x4x3_t a = vld3q_f32(r0 + 3 * x);
    const float32x4x3_t b = vld3q_f32(r1 + 3 * x);
    const float32x4_t v0 = vmlaq_f32(vmulq_f32(a.val[0], vw0), b.val[0], vw1);
    const float32x4_t v1 = vmlaq_f32(vmulq_f32(a.val[1], vw0), b.val[1], vw1);
    const float32x4_t v2 = vmlaq_f32(vmulq_f32(a.val[2], vw0), b.val[2], vw1);
    vst1q_f32(p0 + x, vmlaq_f32(b0, v0, s0));
    vst1q_f32(p1 + x, vmlaq_f32(b1, v1, s1));
    vst1q_f32(p2 + x, vmlaq_f32(b2, v2, s2));
  }
  VerticalScalar(r0 + 3 * x, r1 + 3 * x, w0, w1, n - x, scale_c, bias_c, p0 + x, p1 + x, p2 + x);
}
#endif

}  // namespace

void ResizeShortSize(int width, int height, int short_side, int* out_w, int* out_h) {
  const double percent = static_cast<double>(short_side) / std::min(width, height);
  // std::nearbyint under the default rounding mode rounds half to even, like Python's round().
  *out_w = static_cast<int>(std::nearbyint(width * percent));
  *out_h = static_cast<int>(std::nearbyint(height * percent));
}

bool HasNeonPreprocess() {
#ifdef EDGECLAS_HAVE_NEON
  return true;
#else
  return false;
#endif
}

Status Preprocess(const uint8_t* rgb, int width, int height, const PreprocessParams& p, std::vector<float>* out,
                  PreprocessImpl impl) {
  if (rgb == nullptr || width <= 0 || height <= 0) return Status::Error("preprocess: empty image");
  if (p.resize_short <= 0 || p.crop_size <= 0) return Status::Error("preprocess: resize_short and crop_size must be > 0");
  for (float s : p.std)
    if (s == 0.0f) return Status::Error("preprocess: std must be non-zero");
  bool neon = HasNeonPreprocess();
  if (impl == PreprocessImpl::kScalar) neon = false;
  if (impl == PreprocessImpl::kNeon && !neon) return Status::Error("preprocess: this build has no NEON path");

  int rw = 0, rh = 0;
  ResizeShortSize(width, height, p.resize_short, &rw, &rh);
  const int crop = p.crop_size;
  if (rw < crop || rh < crop)
    return Status::Error("image of " + std::to_string(width) + "x" + std::to_string(height) + " resizes to " +
                         std::to_string(rw) + "x" + std::to_string(rh) + ", smaller than crop size " +
                         std::to_string(crop));
  const int top = (rh - crop) / 2, left = (rw - crop) / 2;
  const std::vector<Tap> xt = MakeTaps(width, rw, left, crop);
  const std::vector<Tap> yt = MakeTaps(height, rh, top, crop);

  // (v * scale - mean) / std  ==  v * (scale / std) + (-mean / std)
  float scale_c[3], bias_c[3];
  for (int c = 0; c < 3; ++c) {
    scale_c[c] = p.scale / p.std[c];
    bias_c[c] = -p.mean[c] / p.std[c];
  }

  out->resize(static_cast<size_t>(3) * crop * crop);
  const size_t plane = static_cast<size_t>(crop) * crop;
  // Two cached horizontally-resized rows, as consecutive output rows mostly share source rows.
  std::vector<float> buf(static_cast<size_t>(2) * crop * 3);
  float* slot[2] = {buf.data(), buf.data() + crop * 3};
  int slot_row[2] = {-1, -1};
  auto row = [&](int r, int keep) -> const float* {
    for (int s = 0; s < 2; ++s)
      if (slot_row[s] == r) return slot[s];
    // Rows only move down: evict the older row, but never the one this output row still needs.
    const int s = keep >= 0 ? (slot_row[0] == keep ? 1 : 0) : (slot_row[0] < slot_row[1] ? 0 : 1);
    HorizontalRow(rgb + static_cast<size_t>(r) * width * 3, xt, p.bgr, slot[s]);
    slot_row[s] = r;
    return slot[s];
  };
  for (int y = 0; y < crop; ++y) {
    const Tap& t = yt[y];
    const float* r0 = row(t.i0, -1);
    const float* r1 = row(t.i1, t.i0);
    float* p0 = out->data() + static_cast<size_t>(y) * crop;
#ifdef EDGECLAS_HAVE_NEON
    if (neon) {
      VerticalNeon(r0, r1, t.w0, t.w1, crop, scale_c, bias_c, p0, p0 + plane, p0 + 2 * plane);
      continue;
    }
#endif
    VerticalScalar(r0, r1, t.w0, t.w1, crop, scale_c, bias_c, p0, p0 + plane, p0 + 2 * plane);
  }
  return Status::OK();
}

}  // namespace edgeclas

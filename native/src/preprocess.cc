#include "edgeclas/preprocess.h"

#include <algorithm>
#include <cmath>

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>
#define EDGECLAS_SIMD "NEON"
#define EDGECLAS_SIMD_NEON 1
#elif defined(__SSE2__)
#include <emmintrin.h>
#define EDGECLAS_SIMD "SSE2"
#define EDGECLAS_SIMD_SSE2 1
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

// Vertical pass: n bytes of two source rows blended into floats. The rows are contiguous, so this is the
// part that vectorises; it runs first, over only the columns the crop reads, so the scalar horizontal taps
// run once per output pixel (horizontal-first would run them on ~2 source rows per output row when
// downscaling by 2). The sum a*w0 + b*w1 is the same whatever the order of the passes, to float rounding.
void BlendRowsScalar(const uint8_t* a, const uint8_t* b, float w0, float w1, int n, float* out) {
  for (int i = 0; i < n; ++i) out[i] = static_cast<float>(a[i]) * w0 + static_cast<float>(b[i]) * w1;
}

#ifdef EDGECLAS_SIMD_NEON
void BlendRowsSimd(const uint8_t* a, const uint8_t* b, float w0, float w1, int n, float* out) {
  const float32x4_t vw0 = vdupq_n_f32(w0), vw1 = vdupq_n_f32(w1);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t a16 = vmovl_u8(vld1_u8(a + i)), b16 = vmovl_u8(vld1_u8(b + i));
    const float32x4_t alo = vcvtq_f32_u32(vmovl_u16(vget_low_u16(a16)));
    const float32x4_t ahi = vcvtq_f32_u32(vmovl_u16(vget_high_u16(a16)));
    const float32x4_t blo = vcvtq_f32_u32(vmovl_u16(vget_low_u16(b16)));
    const float32x4_t bhi = vcvtq_f32_u32(vmovl_u16(vget_high_u16(b16)));
    vst1q_f32(out + i, vaddq_f32(vmulq_f32(alo, vw0), vmulq_f32(blo, vw1)));
    vst1q_f32(out + i + 4, vaddq_f32(vmulq_f32(ahi, vw0), vmulq_f32(bhi, vw1)));
  }
  BlendRowsScalar(a + i, b + i, w0, w1, n - i, out + i);
}
#elif defined(EDGECLAS_SIMD_SSE2)
void BlendRowsSimd(const uint8_t* a, const uint8_t* b, float w0, float w1, int n, float* out) {
  const __m128 vw0 = _mm_set1_ps(w0), vw1 = _mm_set1_ps(w1);
  const __m128i zero = _mm_setzero_si128();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i a16 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + i)), zero);
    const __m128i b16 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + i)), zero);
    const __m128 alo = _mm_cvtepi32_ps(_mm_unpacklo_epi16(a16, zero));
    const __m128 ahi = _mm_cvtepi32_ps(_mm_unpackhi_epi16(a16, zero));
    const __m128 blo = _mm_cvtepi32_ps(_mm_unpacklo_epi16(b16, zero));
    const __m128 bhi = _mm_cvtepi32_ps(_mm_unpackhi_epi16(b16, zero));
    _mm_storeu_ps(out + i, _mm_add_ps(_mm_mul_ps(alo, vw0), _mm_mul_ps(blo, vw1)));
    _mm_storeu_ps(out + i + 4, _mm_add_ps(_mm_mul_ps(ahi, vw0), _mm_mul_ps(bhi, vw1)));
  }
  BlendRowsScalar(a + i, b + i, w0, w1, n - i, out + i);
}
#endif

// Horizontal pass over one vertically blended row (RGB floats from source column `first`): the crop's
// output pixels, normalised, into the three planes of one output row.
void HorizontalTaps(const float* row, int first, const std::vector<Tap>& xt, bool bgr, const float* scale_c,
                    const float* bias_c, float* p0, float* p1, float* p2) {
  const int c0 = bgr ? 2 : 0, c2 = bgr ? 0 : 2;
  for (size_t k = 0; k < xt.size(); ++k) {
    const float* a = row + 3 * (xt[k].i0 - first);
    const float* b = row + 3 * (xt[k].i1 - first);
    const float w0 = xt[k].w0, w1 = xt[k].w1;
    p0[k] = (a[c0] * w0 + b[c0] * w1) * scale_c[0] + bias_c[0];
    p1[k] = (a[1] * w0 + b[1] * w1) * scale_c[1] + bias_c[1];
    p2[k] = (a[c2] * w0 + b[c2] * w1) * scale_c[2] + bias_c[2];
  }
}

}  // namespace

void ResizeShortSize(int width, int height, int short_side, int* out_w, int* out_h) {
  const double percent = static_cast<double>(short_side) / std::min(width, height);
  // std::nearbyint under the default rounding mode rounds half to even, like Python's round().
  *out_w = static_cast<int>(std::nearbyint(width * percent));
  *out_h = static_cast<int>(std::nearbyint(height * percent));
}

const char* SimdPreprocess() {
#ifdef EDGECLAS_SIMD
  return EDGECLAS_SIMD;
#else
  return "";
#endif
}

Status Preprocess(const uint8_t* rgb, int width, int height, const PreprocessParams& p, std::vector<float>* out,
                  PreprocessImpl impl) {
  if (rgb == nullptr || width <= 0 || height <= 0) return Status::Error("preprocess: empty image");
  if (p.resize_short <= 0 || p.crop_size <= 0) return Status::Error("preprocess: resize_short and crop_size must be > 0");
  for (float s : p.std)
    if (s == 0.0f) return Status::Error("preprocess: std must be non-zero");
  const bool has_simd = SimdPreprocess()[0] != '\0';
  if (impl == PreprocessImpl::kSimd && !has_simd) return Status::Error("preprocess: this build has no SIMD path");
  const bool simd = has_simd && impl != PreprocessImpl::kScalar;

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
  // The source columns the crop reads (taps only move right).
  const int first = xt.front().i0, last = xt.back().i1;
  const int n = 3 * (last - first + 1);
  std::vector<float> row(static_cast<size_t>(n));
  for (int y = 0; y < crop; ++y) {
    const Tap& t = yt[y];
    const uint8_t* a = rgb + (static_cast<size_t>(t.i0) * width + first) * 3;
    const uint8_t* b = rgb + (static_cast<size_t>(t.i1) * width + first) * 3;
#ifdef EDGECLAS_SIMD
    if (simd)
      BlendRowsSimd(a, b, t.w0, t.w1, n, row.data());
    else
#endif
      BlendRowsScalar(a, b, t.w0, t.w1, n, row.data());
    float* p0 = out->data() + static_cast<size_t>(y) * crop;
    HorizontalTaps(row.data(), first, xt, p.bgr, scale_c, bias_c, p0, p0 + plane, p0 + 2 * plane);
  }
  return Status::OK();
}

}  // namespace edgeclas

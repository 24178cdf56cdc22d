// Preprocessing that matches edgeclas/preprocess.py (PaddleClas order): resize the short side with
// bilinear half-pixel sampling exactly like cv2.resize(INTER_LINEAR) on float32 pixels, centre crop,
// x * scale, - mean, / std, HWC -> CHW. Only the cropped window of the resized image is computed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "edgeclas/status.h"

namespace edgeclas {

struct PreprocessParams {
  int resize_short = 256;
  int crop_size = 224;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  float scale = 1.0f / 255.0f;
  bool bgr = false;  // feed channels as B, G, R
};

enum class PreprocessImpl { kAuto, kScalar, kSimd };

// Output (w, h) of the resize: short side -> `short_side`, long side rounded half to even (Python round).
void ResizeShortSize(int width, int height, int short_side, int* out_w, int* out_h);

// rgb: HxWx3 uint8. out: 3 x crop x crop float32 (resized to fit).
Status Preprocess(const uint8_t* rgb, int width, int height, const PreprocessParams& p, std::vector<float>* out,
                  PreprocessImpl impl = PreprocessImpl::kAuto);

// The instruction set of this build's SIMD path ("NEON": armv7 with NEON, armv8; "SSE2": x86-64), or "" when
// it has none; kAuto uses it, kScalar never does.
const char* SimdPreprocess();

}  // namespace edgeclas

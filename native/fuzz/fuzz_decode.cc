// Fuzz target: image bytes -> DecodeImageMemory (JPEG/PNG/BMP sniffing, libjpeg-turbo/libpng or stb_image,
// EXIF) -> Preprocess. Any input must give an image with consistent dimensions or an error; the tensor of a
// decoded image is finite. The first byte picks options so DCT scaling and the pixel limit get exercised.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeclas/image.h"
#include "edgeclas/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  edgeclas::DecodeOptions opt;
  opt.jpeg_dct_min_short = (data[0] & 1) ? 8 + (data[0] >> 1) : 0;
  opt.max_pixels = 1 << 16;  // 256x256 keeps each run ~1 ms; the limit itself is tested in test_core.cc
  edgeclas::Image img;
  const edgeclas::Status st = edgeclas::DecodeImageMemory(data + 1, size - 1, "fuzz", &img, opt);
  if (!st.ok()) {
    if (!img.rgb.empty()) __builtin_trap();  // a failed decode leaves no half image behind
    return 0;
  }
  if (img.width <= 0 || img.height <= 0 ||
      img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3 ||
      static_cast<int64_t>(img.width) * img.height > opt.max_pixels)
    __builtin_trap();
  edgeclas::PreprocessParams p;
  p.resize_short = 24;
  p.crop_size = 16;
  std::vector<float> out;
  if (edgeclas::Preprocess(img.rgb.data(), img.width, img.height, p, &out).ok())
    for (float v : out)
      if (!std::isfinite(v)) __builtin_trap();
  return 0;
}

// Image decoding without OpenCV, faithful to cv2.imdecode(IMREAD_COLOR) on the host:
//   JPEG: libjpeg-turbo (bit-exact with OpenCV's decode), PNG: libpng (16-bit truncated to 8, alpha
//   stripped, palette/gray expanded, as cv2 does); BMP: stb_image behind our own header checks.
//   Builds without the libraries (Android: EDGECLAS_IMAGE_LIBS=OFF) decode JPEG/PNG with stb_image too.
// EXIF orientation (JPEG APP1, PNG eXIf) is applied after decoding, as cv2 does, whichever decoder ran.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgeclas/status.h"

namespace edgeclas {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // HxWx3, RGB, row-major
  int orientation = 1;       // the EXIF orientation that was applied (1: none)
  int jpeg_scale_denom = 1;  // JPEG decoded at 1/denom size in the DCT domain (1: full size)
};

// Refused before any pixel buffer is allocated (decompression bombs): 100 MP is 300 MB of RGB.
constexpr int64_t kDefaultMaxImagePixels = 100000000;

struct DecodeOptions {
  // JPEG only: decode at 1/2, 1/4 or 1/8 size in the DCT domain as long as the short side stays >= this
  // many pixels. 0: always the full image, exactly as cv2 decodes it.
  int jpeg_dct_min_short = 0;
  int64_t max_pixels = kDefaultMaxImagePixels;  // width x height as declared by the file
};

Status DecodeImageFile(const std::string& path, Image* out, const DecodeOptions& opt = {});
Status DecodeImageMemory(const uint8_t* data, size_t size, const std::string& name, Image* out,
                         const DecodeOptions& opt = {});

// "jpeg libjpeg-turbo 2.1.5, png libpng 1.6.39, bmp stb_image": what this build decodes with.
std::string ImageDecoders();

// EXIF orientation (1..8) of a JPEG (APP1 "Exif") or PNG (eXIf chunk before IDAT) file; 1 when there is
// none or it is malformed (never reads outside [data, data + size)).
int ExifOrientation(const uint8_t* data, size_t size);
// Orientation of a TIFF-structured EXIF block (byte order mark, IFD0 tag 0x0112); 1 when absent/invalid.
int TiffOrientation(const uint8_t* tiff, size_t size);
// Rotates/flips the pixels the way cv2 does for EXIF orientations 2..8 (5..8 swap width and height).
void ApplyOrientation(int orientation, Image* img);

// Images under a path: the file itself, or the decodable-suffix files of a directory (recursive, sorted).
Status ListImages(const std::string& path, std::vector<std::string>* out);

}  // namespace edgeclas

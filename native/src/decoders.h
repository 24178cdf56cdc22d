// The per-format decoders behind DecodeImageMemory (image.cc). Each fills `out` (RGB, no orientation
// applied) or returns an error whose message names the problem but not the file (the caller adds it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgeclas/image.h"

namespace edgeclas {
namespace internal {

// "image of W x H pixels exceeds max_image_pixels N" or OK.
Status CheckPixels(int64_t width, int64_t height, const DecodeOptions& opt);

#ifdef EDGECLAS_HAVE_LIBJPEG
Status DecodeJpegTurbo(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* out);
std::string LibjpegVersion();
#endif
#ifdef EDGECLAS_HAVE_LIBPNG
Status DecodePngLib(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* out);
std::string LibpngVersion();
#endif
// stb_image, for BMP always and for JPEG/PNG in builds without the libraries; inputs are checked first
// for the stb 2.27 bugs we know of (see decode_stb.cc).
Status DecodeStb(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* out);
std::string StbVersion();

}  // namespace internal
}  // namespace edgeclas

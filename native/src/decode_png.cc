// PNG through libpng with the transforms OpenCV applies for IMREAD_COLOR: palette and low-bit gray
// expanded, gray to RGB, 16-bit truncated to the high byte (png_set_strip_16), alpha dropped without
// compositing (png_set_strip_alpha). Errors longjmp back to Decode, as with libjpeg.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <png.h>

#include "decoders.h"

namespace edgeclas {
namespace internal {
namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[256];
};

void ReadBytes(png_structp png, png_bytep dst, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "PNG data ends early (truncated file)");
  std::memcpy(dst, r->data + r->pos, n);
  r->pos += n;
}

[[noreturn]] void OnError(png_structp png, png_const_charp msg) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}  // ancillary-chunk trouble: ignored, as cv2 does

bool Decode(png_structp png, png_infop info, const DecodeOptions& opt, Image* out, std::vector<png_bytep>* rows,
            Status* status) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);  // our own pixel limit below applies
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  *status = CheckPixels(w, h, opt);
  if (!status->ok()) return true;
  const int color = png_get_color_type(png, info);
  png_set_expand(png);  // palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(w) * 3) {
    *status = Status::Error("PNG transforms did not give 8-bit RGB rows");
    return true;
  }
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(h);
  out->rgb.resize(static_cast<size_t>(w) * h * 3);
  rows->resize(h);
  for (png_uint_32 y = 0; y < h; ++y) (*rows)[y] = out->rgb.data() + static_cast<size_t>(y) * w * 3;
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  return true;
}

}  // namespace

Status DecodePngLib(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* out) {
  Reader reader{data, size, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, OnError, OnWarning);
  if (png == nullptr) return Status::Error("cannot initialise libpng");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return Status::Error("cannot initialise libpng");
  }
  png_set_read_fn(png, &reader, ReadBytes);
  std::vector<png_bytep> rows;
  Status status;
  const bool ok = Decode(png, info, opt, out, &rows, &status);
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) {
    out->rgb.clear();
    return Status::Error(std::string("corrupt PNG (") + reader.message + ")");
  }
  return status;
}

std::string LibpngVersion() { return std::string("libpng ") + PNG_LIBPNG_VER_STRING; }

}  // namespace internal
}  // namespace edgeclas

// EXIF orientation: a bounds-checked reader of the one tag cv2 applies, and the pixel transforms.
#include <cstring>
#include <utility>

#include "edgeclas/image.h"

namespace edgeclas {
namespace {

uint32_t Get(const uint8_t* p, int bytes, bool big_endian) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint32_t>(p[big_endian ? i : bytes - 1 - i]) << (8 * (bytes - 1 - i));
  return v;
}

int JpegOrientation(const uint8_t* d, size_t n) {
  size_t pos = 2;  // after SOI
  while (pos + 4 <= n) {
    if (d[pos] != 0xFF) return 1;  // not at a marker: malformed, no orientation
    const uint8_t marker = d[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan / end of image: metadata is over
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      pos += 2;
      continue;
    }
    const size_t len = Get(d + pos + 2, 2, true);
    if (len < 2 || pos + 2 + len > n) return 1;
    const uint8_t* seg = d + pos + 4;
    const size_t seg_len = len - 2;
    // cv2 reads the first APP1 that carries "Exif\0\0".
    if (marker == 0xE1 && seg_len >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0)
      return TiffOrientation(seg + 6, seg_len - 6);
    pos += 2 + len;
  }
  return 1;
}

int PngOrientation(const uint8_t* d, size_t n) {
  size_t pos = 8;  // after the signature
  while (pos + 12 <= n) {
    const size_t len = Get(d + pos, 4, true);
    const uint8_t* type = d + pos + 4;
    if (len > n - pos - 12) return 1;
    if (std::memcmp(type, "IDAT", 4) == 0 || std::memcmp(type, "IEND", 4) == 0) return 1;
    if (std::memcmp(type, "eXIf", 4) == 0) return TiffOrientation(d + pos + 8, len);
    pos += 12 + len;
  }
  return 1;
}

}  // namespace

int TiffOrientation(const uint8_t* t, size_t n) {
  if (n < 8) return 1;
  bool big;
  if (t[0] == 'M' && t[1] == 'M') big = true;
  else if (t[0] == 'I' && t[1] == 'I') big = false;
  else return 1;
  if (Get(t + 2, 2, big) != 42) return 1;
  const size_t ifd = Get(t + 4, 4, big);
  if (ifd > n - 2 || ifd < 8) return 1;
  const size_t count = Get(t + ifd, 2, big);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (n < 12 || e > n - 12) return 1;
    if (Get(t + e, 2, big) != 0x0112) continue;
    // SHORT, count 1: the value sits left-justified in the 4-byte value field.
    if (Get(t + e + 2, 2, big) != 3 || Get(t + e + 4, 4, big) != 1) return 1;
    const uint32_t v = Get(t + e + 8, 2, big);
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

int ExifOrientation(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return JpegOrientation(data, size);
  if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return PngOrientation(data, size);
  return 1;
}

void ApplyOrientation(int o, Image* img) {
  img->orientation = 1;
  if (o < 2 || o > 8 || img->rgb.empty()) return;
  const int w = img->width, h = img->height;
  const bool swap = o >= 5;  // 5..8 transpose first (cv2: transpose, then flip)
  const int ow = swap ? h : w, oh = swap ? w : h;
  std::vector<uint8_t> out(img->rgb.size());
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      int sx = x, sy = y;
      switch (o) {
        case 2: sx = w - 1 - x; break;                       // mirror horizontally
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;       // rotate 180
        case 4: sy = h - 1 - y; break;                       // mirror vertically
        case 5: sx = y, sy = x; break;                       // transpose
        case 6: sx = y, sy = h - 1 - x; break;               // rotate 90 clockwise
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;       // transverse
        case 8: sx = w - 1 - y, sy = x; break;               // rotate 90 counter-clockwise
      }
      const uint8_t* s = &img->rgb[(static_cast<size_t>(sy) * w + sx) * 3];
      uint8_t* d = &out[(static_cast<size_t>(y) * ow + x) * 3];
      d[0] = s[0], d[1] = s[1], d[2] = s[2];
    }
  }
  img->rgb = std::move(out);
  img->width = ow;
  img->height = oh;
  img->orientation = o;
}

}  // namespace edgeclas

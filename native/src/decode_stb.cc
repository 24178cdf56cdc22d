// stb_image (Debian's libstb-dev, found by CMake, never vendored): BMP always; JPEG and PNG only in builds
// without libjpeg-turbo/libpng (Android). stb 2.27 has bugs reachable from a hostile file, so every input is
// checked here before stb sees it:
//   * BMP: a height of INT_MIN overflows abs() in stbi__bmp_load (signed overflow; found by UBSan), and
//     stbi_info reports negative heights as they are: header fields are validated first;
//   * JPEG: a DHT table whose 16 code counts sum past 256 writes past stbi__huffman::size[257] in
//     stbi__build_huffman (fixed upstream in 2.28), also when the table is read past the end of its
//     segment (found by fuzzing), and a scan that uses a table no DHT defined reads far out of bounds in
//     stbi__jpeg_huff_decode (uninitialised table; found by fuzzing): every DHT and SOS is checked first;
//   * PNG: a chunk length past the end of the file makes stb allocate that much, an empty first IDAT
//     makes it memcpy into a null buffer (both found by fuzzing);
//   * any format: the declared size is checked against max_pixels before stb allocates the pixels.
#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "decoders.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_ONLY_BMP
#ifndef EDGECLAS_HAVE_LIBJPEG
#define STBI_ONLY_JPEG
#endif
#ifndef EDGECLAS_HAVE_LIBPNG
#define STBI_ONLY_PNG
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#define STBI_NEON  // stb enables SSE2 by itself on x86-64 but NEON only when asked
#endif
#include <stb_image.h>

namespace edgeclas {
namespace internal {
namespace {

uint32_t Le(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Status CheckBmp(const uint8_t* d, size_t n, const DecodeOptions& opt) {
  if (n < 26) return Status::Error("corrupt BMP (header truncated)");
  const uint32_t hsz = Le(d + 14, 4);
  int64_t w = 0, h = 0;
  uint32_t bpp = 0;
  if (hsz == 12) {
    w = Le(d + 18, 2), h = Le(d + 20, 2), bpp = Le(d + 24, 2);
  } else if (hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124) {
    if (n < 30) return Status::Error("corrupt BMP (header truncated)");
    w = static_cast<int32_t>(Le(d + 18, 4)), h = static_cast<int32_t>(Le(d + 22, 4)), bpp = Le(d + 28, 2);
  } else {
    return Status::Error("unsupported BMP header size " + std::to_string(hsz));
  }
  if (h == INT32_MIN || w <= 0 || h == 0)
    return Status::Error("corrupt BMP (width " + std::to_string(w) + ", height " + std::to_string(h) + ")");
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    return Status::Error("corrupt BMP (" + std::to_string(bpp) + " bits per pixel)");
  return CheckPixels(w, h < 0 ? -h : h, opt);
}

// Walks every marker segment, entropy-coded data included (progressive files define tables between scans).
Status CheckJpegTables(const uint8_t* d, size_t n) {
  bool defined[2][4] = {};  // [DC, AC][table id]: stb leaves undefined tables as uninitialised memory
  size_t pos = 2;
  while (pos + 1 < n) {
    if (d[pos] != 0xFF) {  // entropy-coded data: skip to the next real marker
      ++pos;
      continue;
    }
    const uint8_t m = d[pos + 1];
    if (m == 0x00 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {  // stuffed byte, fill, RSTn, TEM
      pos += m == 0xFF ? 1 : 2;
      continue;
    }
    if (m == 0xD9) break;  // EOI
    if (pos + 4 > n) break;
    const size_t len = (static_cast<size_t>(d[pos + 2]) << 8) | d[pos + 3];
    if (len < 2) return Status::Error("corrupt JPEG (segment length " + std::to_string(len) + ")");
    if (m == 0xC4) {
      // stb keeps reading tables while the segment has bytes left, past its end if a table overruns it, so
      // a table must fit the segment exactly (stb itself rejects such a file, but only after the overflow).
      size_t t = pos + 4;
      const size_t end = pos + 2 + len;
      while (t < end) {
        if (t + 17 > end || t + 17 > n) return Status::Error("corrupt JPEG (Huffman table overruns its segment)");
        size_t count = 0;
        for (int i = 1; i <= 16; ++i) count += d[t + i];
        if (count > 256) return Status::Error("corrupt JPEG (Huffman table with " + std::to_string(count) + " codes)");
        if ((d[t] >> 4) <= 1 && (d[t] & 15) <= 3) defined[d[t] >> 4][d[t] & 15] = true;  // stb refuses others
        t += 17 + count;
      }
      if (t != end) return Status::Error("corrupt JPEG (Huffman table overruns its segment)");
    }
    if (m == 0xDA) {
      // A scan decodes with the DC tables of its components when it starts at coefficient 0 and with their
      // AC tables when it reaches past it; stb indexes an undefined table's garbage (found by fuzzing).
      const size_t ns = pos + 4 < n ? d[pos + 4] : 0;
      const size_t spectral = pos + 5 + 2 * ns;
      if (ns == 0 || ns > 4 || spectral + 1 >= n || 2 + 1 + 2 * ns + 3 > len)
        return Status::Error("corrupt JPEG (bad scan header)");
      const bool uses_dc = d[spectral] == 0, uses_ac = d[spectral + 1] > 0;
      for (size_t c = 0; c < ns; ++c) {
        const uint8_t tables = d[pos + 6 + 2 * c];
        if ((uses_dc && ((tables >> 4) > 3 || !defined[0][tables >> 4])) ||
            (uses_ac && ((tables & 15) > 3 || !defined[1][tables & 15])))
          return Status::Error("corrupt JPEG (a scan uses an undefined Huffman table)");
      }
    }
    pos += 2 + len;
  }
  return Status::OK();
}

// stb sizes its IDAT buffer from the chunk's declared length before reading it: a 300-byte file declaring a
// 2 GB chunk allocates 2 GB (found by fuzzing). Every chunk must fit in the file.
Status CheckPngChunks(const uint8_t* d, size_t n) {
  bool idat = false;
  size_t pos = 8;
  while (pos < n) {
    if (n - pos < 12) return Status::Error("corrupt PNG (truncated chunk)");
    const size_t len = (static_cast<size_t>(d[pos]) << 24) | (static_cast<size_t>(d[pos + 1]) << 16) |
                       (static_cast<size_t>(d[pos + 2]) << 8) | d[pos + 3];
    if (len > n - pos - 12) return Status::Error("corrupt PNG (a chunk runs past the end of the file)");
    if (std::memcmp(d + pos + 4, "IEND", 4) == 0) break;
    // An empty first IDAT makes stb memcpy into its still-null buffer (UB; found by fuzzing).
    if (len == 0 && !idat && std::memcmp(d + pos + 4, "IDAT", 4) == 0)
      return Status::Error("corrupt PNG (empty first IDAT chunk, which stb_image cannot read)");
    idat = idat || std::memcmp(d + pos + 4, "IDAT", 4) == 0;
    pos += 12 + len;
  }
  return Status::OK();
}

}  // namespace

Status DecodeStb(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* out) {
  if (size > static_cast<size_t>(INT_MAX)) return Status::Error("file too large for stb_image");
  if (size >= 2 && data[0] == 'B' && data[1] == 'M') EDGECLAS_RETURN_IF_ERROR(CheckBmp(data, size, opt));
  if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) EDGECLAS_RETURN_IF_ERROR(CheckJpegTables(data, size));
  if (size >= 8 && data[0] == 0x89 && data[1] == 'P') EDGECLAS_RETURN_IF_ERROR(CheckPngChunks(data, size));
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n))
    return Status::Error(std::string("corrupt image (") + stbi_failure_reason() + ")");
  EDGECLAS_RETURN_IF_ERROR(CheckPixels(w, h, opt));
  stbi_uc* px = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &n, 3);
  if (px == nullptr) return Status::Error(std::string("corrupt image (") + stbi_failure_reason() + ")");
  out->width = w;
  out->height = h;
  out->rgb.assign(px, px + static_cast<size_t>(w) * h * 3);
  stbi_image_free(px);
  return Status::OK();
}

std::string StbVersion() { return "stb_image " EDGECLAS_STB_VERSION; }  // read from the header by CMake

}  // namespace internal
}  // namespace edgeclas

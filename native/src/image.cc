#include "edgeclas/image.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "decoders.h"

namespace edgeclas {
namespace fs = std::filesystem;

namespace internal {

Status CheckPixels(int64_t width, int64_t height, const DecodeOptions& opt) {
  if (width <= 0 || height <= 0)
    return Status::Error("image declares " + std::to_string(width) + "x" + std::to_string(height) + " pixels");
  if (width * height > opt.max_pixels)
    return Status::Error("image declares " + std::to_string(width) + "x" + std::to_string(height) +
                         " pixels, more than max_image_pixels " + std::to_string(opt.max_pixels) +
                         " (a decompression bomb, or raise max_image_pixels)");
  return Status::OK();
}

}  // namespace internal

namespace {

enum class Format { kJpeg, kPng, kBmp, kUnknown };

Format Sniff(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::kJpeg;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::kPng;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return Format::kBmp;
  return Format::kUnknown;
}

// Files larger than this are not read at all: no JPEG/PNG/BMP under max_image_pixels needs more.
constexpr int64_t kMaxFileBytes = int64_t{1} << 30;

}  // namespace

std::string ImageDecoders() {
#ifdef EDGECLAS_HAVE_LIBJPEG
  const std::string jpeg = internal::LibjpegVersion();
#else
  const std::string jpeg = internal::StbVersion();
#endif
#ifdef EDGECLAS_HAVE_LIBPNG
  const std::string png = internal::LibpngVersion();
#else
  const std::string png = internal::StbVersion();
#endif
  return "jpeg " + jpeg + ", png " + png + ", bmp " + internal::StbVersion();
}

Status DecodeImageMemory(const uint8_t* data, size_t size, const std::string& name, Image* out,
                         const DecodeOptions& opt) {
  *out = Image();
  if (size == 0) return Status::Error(name + ": empty file, not an image");
  Status st;
  switch (Sniff(data, size)) {
    case Format::kJpeg:
#ifdef EDGECLAS_HAVE_LIBJPEG
      st = internal::DecodeJpegTurbo(data, size, opt, out);
#else
      st = internal::DecodeStb(data, size, opt, out);
#endif
      break;
    case Format::kPng:
#ifdef EDGECLAS_HAVE_LIBPNG
      st = internal::DecodePngLib(data, size, opt, out);
#else
      st = internal::DecodeStb(data, size, opt, out);
#endif
      break;
    case Format::kBmp:
      st = internal::DecodeStb(data, size, opt, out);
      break;
    case Format::kUnknown:
      return Status::Error(name + ": not a JPEG, PNG or BMP image (unknown file signature)");
  }
  if (!st.ok()) {
    *out = Image();
    return Status::Error(name + ": " + st.message());
  }
  ApplyOrientation(ExifOrientation(data, size), out);
  return Status::OK();
}

Status DecodeImageFile(const std::string& path, Image* out, const DecodeOptions& opt) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::Error(path + ": cannot open image (" + std::strerror(errno) + ")");
  if (!S_ISREG(st.st_mode)) return Status::Error(path + ": not a regular file");
  if (st.st_size > kMaxFileBytes)
    return Status::Error(path + ": " + std::to_string(st.st_size) + " bytes, larger than any image clas_system reads (1 GiB)");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Error(path + ": cannot open image");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  if (!bytes.empty() && !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    return Status::Error(path + ": cannot read image (file shrank while reading?)");
  return DecodeImageMemory(bytes.data(), bytes.size(), path, out, opt);
}

Status ListImages(const std::string& path, std::vector<std::string>* out) {
  std::error_code ec;
  out->clear();
  if (fs::is_regular_file(path, ec)) {
    out->push_back(path);
    return Status::OK();
  }
  if (!fs::exists(path, ec)) return Status::Error(path + ": no such file or directory");
  if (!fs::is_directory(path, ec)) return Status::Error(path + ": not a regular file or directory");
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp") out->push_back(it->path().string());
  }
  if (ec) return Status::Error(path + ": cannot list directory (" + ec.message() + ")");
  std::sort(out->begin(), out->end());
  if (out->empty()) return Status::Error(path + ": no images (.jpg .jpeg .png .bmp) in this directory");
  return Status::OK();
}

}  // namespace edgeclas

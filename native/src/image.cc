#include "edgeclas/image.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>

// stb_image comes from Debian's libstb-dev (found by CMake, never vendored); only the decoders we accept.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#define STBI_NEON  // stb enables SSE2 by itself on x86-64 but NEON only when asked
#endif
#include <stb_image.h>

namespace edgeclas {
namespace fs = std::filesystem;

Status DecodeImageMemory(const uint8_t* data, size_t size, const std::string& name, Image* out) {
  if (size == 0) return Status::Error(name + ": empty file, not an image");
  if (size > static_cast<size_t>(INT32_MAX)) return Status::Error(name + ": file too large");
  int w = 0, h = 0, n = 0;
  stbi_uc* px = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &n, 3);
  if (px == nullptr)
    return Status::Error(name + ": not a decodable image (" + std::string(stbi_failure_reason()) +
                         "; JPEG/PNG/BMP expected)");
  out->width = w;
  out->height = h;
  out->rgb.assign(px, px + static_cast<size_t>(w) * h * 3);
  stbi_image_free(px);
  return Status::OK();
}

Status DecodeImageFile(const std::string& path, Image* out) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return Status::Error(path + ": cannot open image");
  const std::streamoff size = f.tellg();
  if (size < 0) return Status::Error(path + ": cannot read image");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
    return Status::Error(path + ": cannot read image");
  return DecodeImageMemory(bytes.data(), bytes.size(), path, out);
}

Status ListImages(const std::string& path, std::vector<std::string>* out) {
  std::error_code ec;
  out->clear();
  if (fs::is_regular_file(path, ec)) {
    out->push_back(path);
    return Status::OK();
  }
  if (!fs::is_directory(path, ec)) return Status::Error(path + ": no such file or directory");
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

// Image decoding (JPEG/PNG/BMP via stb_image; no OpenCV on the device).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgeclas/status.h"

namespace edgeclas {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // HxWx3, RGB, row-major
};

Status DecodeImageFile(const std::string& path, Image* out);
Status DecodeImageMemory(const uint8_t* data, size_t size, const std::string& name, Image* out);

// Images under a path: the file itself, or the decodable-suffix files of a directory (recursive, sorted).
Status ListImages(const std::string& path, std::vector<std::string>* out);

}  // namespace edgeclas

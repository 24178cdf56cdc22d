// clas_system output: JSON lines (docs/artifacts.md, "clas_system output") or PaddleClas-style text.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "edgeclas/pipeline.h"

namespace edgeclas {

std::string JsonEscape(const std::string& s);
std::string ImageJson(const ImageResult& r);
std::string SummaryJson(const Summary& s);
std::string ImageText(const ImageResult& r);
std::string SummaryText(const Summary& s);
std::string SettingsText(const std::vector<std::pair<std::string, std::string>>& settings);

}  // namespace edgeclas

// Top-k over class probabilities, and label files.
#pragma once

#include <string>
#include <vector>

#include "edgeclas/status.h"

namespace edgeclas {

struct ClassScore {
  int class_id = 0;
  float score = 0.0f;
  std::string label;
};

// k best classes, highest score first (ties: lower class id first); k is clamped to probs.size().
std::vector<ClassScore> TopK(const std::vector<float>& probs, int k, const std::vector<std::string>& labels = {});

// PaddleClas label list: "id name" lines (the name may contain spaces), or one bare name per line.
Status LoadLabels(const std::string& path, std::vector<std::string>* labels);

}  // namespace edgeclas

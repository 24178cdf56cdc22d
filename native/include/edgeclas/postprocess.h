// Top-k over class probabilities, the thresholded answers of binary and multi-label models, label files.
#pragma once

#include <string>
#include <vector>

#include "edgeclas/config.h"
#include "edgeclas/status.h"

namespace edgeclas {

struct ClassScore {
  int class_id = 0;
  float score = 0.0f;
  std::string label;
};

// k best classes, highest score first (ties: lower class id first); k is clamped to probs.size().
std::vector<ClassScore> TopK(const std::vector<float>& probs, int k, const std::vector<std::string>& labels = {});

// The answer PaddleClas's post-processing gives (edgeclas.predict.postprocess is the Python twin):
//   Topk: the k best, only those >= threshold when one is set;
//   ThreshOutput (2 classes): class 1 with its score when score1 >= threshold (0.5 unset), else class 0 with 1-score1;
//   MultiLabelThreshOutput: every label whose score >= threshold (0.5 unset), in label order.
// ThreshOutput on a model without exactly 2 outputs is an error.
Status Decide(const std::vector<float>& probs, PostProcessKind kind, int k, float threshold,
              const std::vector<std::string>& labels, std::vector<ClassScore>* out);

// PaddleClas label list: "id name" lines (the name may contain spaces), or one bare name per line.
Status LoadLabels(const std::string& path, std::vector<std::string>* labels);

}  // namespace edgeclas

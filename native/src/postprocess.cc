#include "edgeclas/postprocess.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <numeric>

#include <sys/stat.h>

namespace edgeclas {
namespace {

constexpr long long kMaxLabelFileBytes = 64LL << 20;  // ImageNet-21k's list is ~0.5 MB

}  // namespace

std::vector<ClassScore> TopK(const std::vector<float>& probs, int k, const std::vector<std::string>& labels) {
  const int n = static_cast<int>(probs.size());
  k = std::max(0, std::min(k, n));
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  });
  std::vector<ClassScore> out;
  out.reserve(k);
  for (int i = 0; i < k; ++i) {
    const int id = idx[i];
    out.push_back({id, probs[id], id < static_cast<int>(labels.size()) ? labels[id] : std::string()});
  }
  return out;
}

Status Decide(const std::vector<float>& probs, PostProcessKind kind, int k, float threshold,
              const std::vector<std::string>& labels, std::vector<ClassScore>* out) {
  auto label = [&](int id) { return id < static_cast<int>(labels.size()) ? labels[id] : std::string(); };
  out->clear();
  if (kind == PostProcessKind::kTopk) {
    for (const auto& c : TopK(probs, k, labels))
      if (threshold < 0 || c.score >= threshold) out->push_back(c);
    return Status::OK();
  }
  const float t = threshold < 0 ? 0.5f : threshold;
  if (kind == PostProcessKind::kThreshOutput) {
    if (probs.size() != 2)
      return Status::Error("postprocess ThreshOutput needs a 2-class model, this one has " +
                           std::to_string(probs.size()) + " outputs");
    if (probs[1] >= t) out->push_back({1, probs[1], label(1)});
    else out->push_back({0, 1.0f - probs[1], label(0)});
    return Status::OK();
  }
  for (int i = 0; i < static_cast<int>(probs.size()); ++i)
    if (probs[i] >= t) out->push_back({i, probs[i], label(i)});
  return Status::OK();
}

Status LoadLabels(const std::string& path, std::vector<std::string>* labels) {
  // /dev/zero, a FIFO or a huge file would otherwise hang clas_system or grow it without bound.
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::Error(path + ": cannot open label file (label_path)");
  if (!S_ISREG(st.st_mode)) return Status::Error(path + ": label_path is not a regular file");
  if (st.st_size > kMaxLabelFileBytes)
    return Status::Error(path + ": label file of " + std::to_string(st.st_size) +
                         " bytes; label_path must be a label list (at most 64 MiB)");
  std::ifstream f(path);
  if (!f) return Status::Error(path + ": cannot open label file (label_path)");
  labels->clear();
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    // "id name": the id must be the line's position, otherwise class ids and names would silently disagree.
    size_t sp = line.find_first_of(" \t");
    std::string head = line.substr(0, sp);
    bool numeric = !head.empty() && std::all_of(head.begin(), head.end(), [](unsigned char c) { return std::isdigit(c); });
    if (numeric && sp != std::string::npos) {
      long id = std::strtol(head.c_str(), nullptr, 10);
      if (id != static_cast<long>(labels->size()))
        return Status::Error(path + ":" + std::to_string(line_no) + ": label id " + head + " out of order (expected " +
                             std::to_string(labels->size()) + ")");
      size_t b = line.find_first_not_of(" \t", sp);
      labels->push_back(b == std::string::npos ? "" : line.substr(b));
    } else {
      labels->push_back(line);
    }
  }
  if (labels->empty()) return Status::Error(path + ": label file has no labels");
  return Status::OK();
}

}  // namespace edgeclas

// clas_system CONFIG IMAGE_OR_DIR — PaddleClas deploy/lite compatible classifier runner.
// Exit codes: 0 all images classified, 1 some image or the engine failed (results so far are printed),
// 2 usage or config error.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "edgeclas/config.h"
#include "edgeclas/engine.h"
#include "edgeclas/image.h"
#include "edgeclas/output.h"
#include "edgeclas/pipeline.h"

namespace {

int Run(int argc, char** argv) {
  using namespace edgeclas;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CONFIG IMAGE_OR_DIR\n  CONFIG: PaddleClas config.txt (key value lines)\n", argv[0]);
    return 2;
  }
  Config cfg;
  std::vector<std::string> warnings;
  Status st = LoadConfigFile(argv[1], &cfg, &warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 2;
  }
  std::vector<IgnoredSetting> ignored = cfg.ignored;
  for (auto& i : EngineIgnoredSettings(cfg)) ignored.push_back(std::move(i));
  for (const auto& i : ignored) std::fprintf(stderr, "warning: %s\n", IgnoredText(cfg, i).c_str());
  const bool json = cfg.output == OutputFormat::kJson;
  // Settings first; in JSON mode stdout carries only JSON lines.
  auto settings = SettingsInEffect(cfg, ignored);
  for (auto& kv : settings)
    if (kv.first == "engine" && cfg.engine.empty()) kv.second = BuiltEngineName();
  std::fputs(SettingsText(settings).c_str(), json ? stderr : stdout);
  std::vector<std::string> images;
  st = ListImages(argv[2], &images);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 2;
  }
  Pipeline pipeline;
  int failed = 0;
  st = pipeline.Run(
      cfg, images,
      [&] {
        for (const auto& note : pipeline.EngineNotes()) std::fprintf(stderr, "warning: %s\n", note.c_str());
      },
      [&](const Status& image_status, const ImageResult& r) {
        if (!image_status.ok()) {
          std::fprintf(stderr, "error: %s\n", image_status.message().c_str());
          ++failed;
          return;
        }
        std::cout << (json ? ImageJson(r) + "\n" : ImageText(r)) << std::flush;
      });
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  const Summary s = pipeline.MakeSummary();
  std::cout << (json ? SummaryJson(s) + "\n" : SummaryText(s)) << std::flush;
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // a bug or an engine throwing: still one line, never an abort
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

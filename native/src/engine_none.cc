// Engine-free build (EDGECLAS_ENGINE=none): the core library and its tests, no inference.
#include "edgeclas/engine.h"

namespace edgeclas {

std::unique_ptr<Engine> CreateEngine() { return nullptr; }
const char* BuiltEngineName() { return "none"; }
// Nothing runs, so nothing is ignored: Pipeline::Run refuses it before any setting matters.
std::vector<IgnoredSetting> EngineIgnoredSettings(const Config&) { return {}; }

}  // namespace edgeclas

// edgeclas._native: the C++ core for Python (tests compare it against edgeclas/preprocess.py and
// Python ORT), and with an engine compiled in, the whole clas_system pipeline on a file.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "edgeclas/config.h"
#include "edgeclas/engine.h"
#include "edgeclas/image.h"
#include "edgeclas/pipeline.h"
#include "edgeclas/postprocess.h"
#include "edgeclas/preprocess.h"
#include "edgeclas/stats.h"

namespace py = pybind11;
using namespace edgeclas;

namespace {

void Throw(const Status& st) {
  if (!st.ok()) throw std::invalid_argument(st.message());  // ValueError in Python
}

py::dict ConfigDict(const Config& c) {
  py::dict d;
  for (const auto& kv : SettingsInEffect(c, c.ignored)) d[py::str(kv.first)] = kv.second;
  d["clas_model_file"] = c.clas_model_file;
  d["label_path"] = c.label_path;
  d["engine"] = c.engine;
  d["num_threads"] = c.num_threads;
  d["power_mode"] = c.power_mode;
  d["resize_short_size"] = c.resize_short_size;
  d["crop_size"] = c.crop_size;
  d["topk"] = c.topk;
  d["postprocess"] = std::string(PostProcessName(c.postprocess));
  d["threshold"] = c.threshold < 0 ? py::object(py::none()) : py::object(py::float_(c.threshold));
  d["warmup"] = c.warmup;
  d["repeats"] = c.repeats;
  d["batch_size"] = c.batch_size;
  d["output"] = c.output == OutputFormat::kJson ? "json" : "text";
  d["mean"] = std::vector<float>(c.mean.begin(), c.mean.end());
  d["std"] = std::vector<float>(c.std.begin(), c.std.end());
  d["scale"] = c.scale;
  d["channel_order"] = c.channel_order;
  d["jpeg_dct_scaling"] = c.jpeg_dct_scaling;
  d["max_image_pixels"] = c.max_image_pixels;
  return d;
}

py::array_t<float> ToArray(std::vector<float>&& v, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<float>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>(shape, heap->data(), owner);
}

py::list TopKList(const std::vector<ClassScore>& r) {
  py::list out;
  for (const auto& c : r) {
    py::dict d;
    d["class_id"] = c.class_id;
    d["label"] = c.label;
    d["score"] = c.score;
    out.append(d);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "edgeclas native core (C++): config, decode, preprocess, top-k, stats, pipeline";
  m.attr("engine") = BuiltEngineName();
  m.attr("simd") = SimdPreprocess();
  m.attr("decoders") = ImageDecoders();

  m.def(
      "parse_config",
      [](const std::string& text, const std::string& source) {
        Config c;
        std::vector<std::string> warnings;
        Throw(ParseConfig(text, source, &c, &warnings));
        for (const auto& i : c.ignored) warnings.push_back(IgnoredText(c, i));
        return py::make_tuple(ConfigDict(c), warnings);
      },
      py::arg("text"), py::arg("source") = "<config>",
      "Parse clas_system config text -> (settings dict, warnings incl. settings ignored whatever the engine); "
      "ValueError naming key and line.");

  m.def(
      "decode",
      [](const std::string& path, int jpeg_dct_min_short, long long max_pixels) {
        Image img;
        DecodeOptions opt;
        opt.jpeg_dct_min_short = jpeg_dct_min_short;
        opt.max_pixels = max_pixels;
        {
          py::gil_scoped_release release;
          Throw(DecodeImageFile(path, &img, opt));
        }
        py::array_t<uint8_t> a({img.height, img.width, 3});
        std::copy(img.rgb.begin(), img.rgb.end(), a.mutable_data());
        return a;
      },
      py::arg("path"), py::arg("jpeg_dct_min_short") = 0, py::arg("max_pixels") = kDefaultMaxImagePixels,
      "Decode as clas_system does (EXIF orientation applied) -> HxWx3 uint8 RGB.");

  m.def(
      "exif_orientation", [](const py::bytes& data) {
        const std::string s = data;
        return ExifOrientation(reinterpret_cast<const uint8_t*>(s.data()), s.size());
      },
      py::arg("data"), "EXIF orientation (1..8) of JPEG/PNG file bytes; 1 when absent.");

  m.def(
      "preprocess",
      [](py::array_t<uint8_t, py::array::c_style | py::array::forcecast> img, int resize_short, int crop_size,
         std::vector<float> mean, std::vector<float> std, float scale, const std::string& channel_order,
         const std::string& impl) {
        if (img.ndim() != 3 || img.shape(2) != 3) throw std::invalid_argument("expected an HxWx3 uint8 array");
        if (mean.size() != 3 || std.size() != 3) throw std::invalid_argument("mean and std need 3 values");
        if (channel_order != "RGB" && channel_order != "BGR") throw std::invalid_argument("channel_order: RGB or BGR");
        PreprocessParams p;
        p.resize_short = resize_short;
        p.crop_size = crop_size;
        std::copy(mean.begin(), mean.end(), p.mean.begin());
        std::copy(std.begin(), std.end(), p.std.begin());
        p.scale = scale;
        p.bgr = channel_order == "BGR";
        PreprocessImpl which = impl == "scalar" ? PreprocessImpl::kScalar
                               : impl == "simd" ? PreprocessImpl::kSimd
                                                : PreprocessImpl::kAuto;
        std::vector<float> out;
        {
          py::gil_scoped_release release;
          Throw(Preprocess(img.data(), static_cast<int>(img.shape(1)), static_cast<int>(img.shape(0)), p, &out, which));
        }
        return ToArray(std::move(out), {3, crop_size, crop_size});
      },
      py::arg("img"), py::arg("resize_short"), py::arg("crop_size"), py::arg("mean"), py::arg("std"),
      py::arg("scale") = 1.0f / 255.0f, py::arg("channel_order") = "RGB", py::arg("impl") = "auto",
      "HxWx3 uint8 RGB -> 3xCxC float32, like edgeclas.preprocess.preprocess.");

  m.def(
      "topk",
      [](std::vector<float> probs, int k, std::vector<std::string> labels) { return TopKList(TopK(probs, k, labels)); },
      py::arg("probs"), py::arg("k"), py::arg("labels") = std::vector<std::string>{});

  m.def(
      "decide",
      [](std::vector<float> probs, const std::string& kind, int k, float threshold, std::vector<std::string> labels) {
        PostProcessKind pk = PostProcessKind::kTopk;
        if (kind == "ThreshOutput") pk = PostProcessKind::kThreshOutput;
        else if (kind == "MultiLabelThreshOutput") pk = PostProcessKind::kMultiLabel;
        else if (kind != "Topk") throw std::invalid_argument("unknown post-processing '" + kind + "'");
        std::vector<ClassScore> out;
        Throw(Decide(probs, pk, k, threshold, labels, &out));
        return TopKList(out);
      },
      py::arg("probs"), py::arg("kind"), py::arg("k"), py::arg("threshold") = -1.0f,
      py::arg("labels") = std::vector<std::string>{},
      "The post-processing answer (Topk, ThreshOutput, MultiLabelThreshOutput); threshold < 0: unset.");

  m.def(
      "stats",
      [](const std::vector<double>& samples) {
        LatencyStats s = ComputeStats(samples);
        py::dict d;
        d["min"] = s.min, d["max"] = s.max, d["mean"] = s.mean, d["std"] = s.std;
        d["p50"] = s.p50, d["p90"] = s.p90, d["p99"] = s.p99, d["count"] = s.count;
        return d;
      },
      py::arg("samples_ms"));

  m.def(
      "classify",
      [](const std::string& config_path, const std::vector<std::string>& images) {
        Config c;
        Throw(LoadConfigFile(config_path, &c, nullptr));
        Pipeline pipeline;
        py::list results;
        Status failed;  // the first image's error, raised once the pipeline's threads are done
        // The sink runs on this thread (which holds the GIL), in input order; the workers never touch Python.
        Throw(pipeline.Run(c, images, nullptr, [&](const Status& st, const ImageResult& r) {
          if (!st.ok()) {
            if (failed.ok()) failed = st;
            return;
          }
          py::dict d;
          d["image"] = r.image;
          d["topk"] = TopKList(r.topk);
          d["classes"] = TopKList(r.classes);
          d["probs"] = r.probs;
          results.append(d);
        }));
        Throw(failed);
        return results;
      },
      py::arg("config_path"), py::arg("images"),
      "Run the clas_system pipeline (needs an engine compiled in; batch_size and concurrent_images apply) -> one "
      "dict per image; the first image that fails raises.");
}

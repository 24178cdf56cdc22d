// JPEG through libjpeg-turbo with the library's defaults (ISLOW IDCT, fancy upsampling): the same
// settings as OpenCV's decoder, so the pixels are bit-identical to cv2.imdecode (tests/test_native.py).
// libjpeg reports errors by calling error_exit, which must not return: it longjmps back to Decode, whose
// frame holds only trivially destructible locals (the pixel vector lives in the caller's Image).
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "decoders.h"

namespace edgeclas {
namespace internal {
namespace {

// A progressive JPEG may declare thousands of tiny scans, each a full pass over the coefficients
// (libjpeg-turbo's own advice for untrusted input is to cap them); real photos have ~10.
constexpr int kMaxScans = 500;

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

[[noreturn]] void Fail(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorManager*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings that mean image data was lost: cv2 decodes such a file into partly grey pixels and says nothing
// to the caller; clas_system refuses it rather than classify pixels the file does not hold. The other
// warnings (extraneous bytes before a marker, unknown APP data) are harmless and ignored, as cv2 does.
void OnMessage(j_common_ptr c, int level) {
  if (level != -1) return;
  const int code = c->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE) Fail(c);
}

void OnProgress(j_common_ptr c) {
  auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (d->input_scan_number > kMaxScans) {
    auto* e = reinterpret_cast<ErrorManager*>(c->err);
    std::snprintf(e->message, sizeof e->message, "progressive JPEG with more than %d scans", kMaxScans);
    std::longjmp(e->jump, 1);
  }
}

// CMYK/YCCK (Adobe, inverted) to RGB exactly as OpenCV's icvCvt_CMYK2BGR_8u_C4C3R does.
void CmykRowToRgb(const uint8_t* cmyk, int width, uint8_t* rgb) {
  for (int x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const int k = cmyk[3];
    rgb[0] = static_cast<uint8_t>(k - ((255 - cmyk[0]) * k >> 8));
    rgb[1] = static_cast<uint8_t>(k - ((255 - cmyk[1]) * k >> 8));
    rgb[2] = static_cast<uint8_t>(k - ((255 - cmyk[2]) * k >> 8));
  }
}

// Runs the libjpeg calls; returns false with e->message set when libjpeg failed.
bool Decode(j_decompress_ptr cinfo, ErrorManager* e, const uint8_t* data, size_t size, const DecodeOptions& opt,
            Image* out, std::vector<uint8_t>* cmyk_row, Status* status) {
  if (setjmp(e->jump)) return false;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  *status = CheckPixels(cinfo->image_width, cinfo->image_height, opt);
  if (!status->ok()) return true;
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  if (opt.jpeg_dct_min_short > 0) {
    const unsigned short_side = std::min(cinfo->image_width, cinfo->image_height);
    for (unsigned denom = 8; denom >= 2; denom /= 2) {
      if ((short_side + denom - 1) / denom >= static_cast<unsigned>(opt.jpeg_dct_min_short)) {
        cinfo->scale_num = 1;
        cinfo->scale_denom = denom;
        out->jpeg_scale_denom = static_cast<int>(denom);
        break;
      }
    }
  }
  jpeg_start_decompress(cinfo);
  const int w = static_cast<int>(cinfo->output_width), h = static_cast<int>(cinfo->output_height);
  out->width = w;
  out->height = h;
  out->rgb.resize(static_cast<size_t>(w) * h * 3);
  if (cmyk) cmyk_row->resize(static_cast<size_t>(w) * 4);
  while (cinfo->output_scanline < cinfo->output_height) {
    uint8_t* dst = out->rgb.data() + static_cast<size_t>(cinfo->output_scanline) * w * 3;
    JSAMPROW row = cmyk ? cmyk_row->data() : dst;
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
      std::snprintf(e->message, sizeof e->message, "JPEG data ended at row %u of %d",
                    cinfo->output_scanline, h);
      return false;
    }
    if (cmyk) CmykRowToRgb(cmyk_row->data(), w, dst);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

}  // namespace

Status DecodeJpegTurbo(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* out) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  jpeg_progress_mgr progress;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = Fail;
  err.pub.emit_message = OnMessage;
  err.message[0] = '\0';
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = OnProgress;
  cinfo.progress = &progress;
  std::vector<uint8_t> cmyk_row;
  Status status;
  const bool ok = Decode(&cinfo, &err, data, size, opt, out, &cmyk_row, &status);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) {
    out->rgb.clear();
    return Status::Error(std::string("corrupt JPEG (") + err.message + ")");
  }
  return status;
}

std::string LibjpegVersion() {
#ifdef LIBJPEG_TURBO_VERSION
#define EDGECLAS_STR2(x) #x
#define EDGECLAS_STR(x) EDGECLAS_STR2(x)
  return "libjpeg-turbo " EDGECLAS_STR(LIBJPEG_TURBO_VERSION);
#else
  return "libjpeg " + std::to_string(JPEG_LIB_VERSION);
#endif
}

}  // namespace internal
}  // namespace edgeclas

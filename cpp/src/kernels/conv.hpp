#pragma once
// Internal: convolution windows, im2col / col2im (conv.cpp), the convolution GEMM (conv_gemm.cpp)
// and the convolution's forward and backward passes over a batch (conv_pass.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstddef>
#include <cstdint>

#include "epilogue.hpp"

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ convolution windows (conv.cpp)
// One NHWC image's window geometry (pooling uses kh/kw as the pool size and no dilation).
struct ConvGeometry {
  int64_t h, w, c;            // input
  int64_t kh, kw;             // window
  int64_t sh, sw, dh = 1, dw = 1;
  int64_t pad_top, pad_left;  // "same" padding; 0 for "valid"
  int64_t oh, ow;             // output
};
// cols (oh*ow, kh*kw*c) from one image (h, w, c); out-of-image taps are 0. With a range, only the
// output positions (oh * ow + ow) [pos_begin, pos_end) are written, from the start of `cols`.
void im2col(const float* x, const ConvGeometry& g, float* cols, int64_t pos_begin = 0, int64_t pos_end = -1);
// dx (h, w, c) += each column entry of the positions [pos_begin, pos_end) (cols holds their rows
// from its start) at its image position. The caller zeroes dx first.
void col2im(const float* cols, const ConvGeometry& g, float* dx, int64_t pos_begin = 0, int64_t pos_end = -1);

// ------------------------------------------------------------------ convolution GEMM (conv_gemm.cpp)
// A convolution kernel (K x F, K = kh * kw * c) packed once for conv_gemm (empty where the CPU
// lacks AVX2/FMA).
class PackedFilters {
 public:
  PackedFilters(const float* kernel, int64_t k, int64_t f);
  ~PackedFilters();
  PackedFilters(const PackedFilters&) = delete;
  PackedFilters& operator=(const PackedFilters&) = delete;
  int64_t k, f;
  float* data = nullptr;

 private:
  size_t bytes_ = 0;
};
// out (rows x F, rows = pos_end - pos_begin) = epilogue(im2col(image)[pos_begin, pos_end) @ kernel)
// for one NHWC image, on the calling thread, packing the windows straight from the image (no column
// buffer). Returns false (nothing done) where it does not apply: no AVX2/FMA, or K too deep.
bool conv_gemm(const float* image, const ConvGeometry& g, int64_t pos_begin, int64_t pos_end,
               const PackedFilters& filters, float* out, const Epilogue& epilogue = {});

// ------------------------------------------------------------------ convolution passes (conv_pass.cpp)
// y (n, oh, ow, f) = epilogue(conv(x, kernel)) for n NHWC images x (n, h, w, c) and a kernel
// (kh, kw, c, f): the convolution GEMM chunk by chunk (im2col + GEMM where it does not apply, a
// plain GEMM for 1x1 stride-1 windows), in parallel over images, or over ranges of output
// positions when there are fewer images than threads, above the work threshold.
void conv_forward(const float* x, int64_t n, const ConvGeometry& g, const float* kernel, int64_t f,
                  const Epilogue& epilogue, float* y);
// From gy (n, oh, ow, f), the gradient at the convolution's output (past the epilogue's activation):
// dx (n, h, w, c) and dkernel (kh, kw, c, f), each skipped when null. dx of a stride-1 undilated
// convolution runs as the transposed convolution on conv_gemm, others as dy @ K^T and col2im.
void conv_backward(const float* x, int64_t n, const ConvGeometry& g, const float* kernel, int64_t f,
                   const float* gy, float* dx, float* dkernel);

}  // namespace kernels
}  // namespace lamina

#pragma once
// Internal: matrix products (gemm.cpp, gemm_packed.cpp).
// Kernels are raw compute on contiguous buffers: no autodiff, no argument checks (ops do both).
#include <cstdint>

#include "epilogue.hpp"

namespace lamina {
namespace kernels {

// ------------------------------------------------------------------ GEMM (gemm.cpp)
// C (m x n) = epilogue(op(A) @ op(B) + beta * C), row-major, op = transpose when the flag is set.
// A is (m x k) or, transposed, stored (k x m); B is (k x n) or stored (n x k).
// threaded=false keeps it on the calling thread (for GEMMs issued from inside a parallel loop).
// The epilogue (bias per column, relu) runs in the packed kernel's tile writes, else on C after.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          const float* b, float* c, float beta = 0.f, bool threaded = true, const Epilogue& epilogue = {});

// gemm() with packed panels and an AVX2/FMA micro-kernel (gemm_packed.cpp); returns false
// (nothing done) where the CPU lacks AVX2/FMA. gemm() uses it for all but very few rows.
bool gemm_packed(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
                 float* c, float beta, bool threaded, const Epilogue& epilogue);

}  // namespace kernels
}  // namespace lamina

// matmul with NumPy semantics on top of the GEMM kernel.
#include "kernels/gemm.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

namespace {

// C[i] = op(A[i]) @ op(B[i]) for each of `batch` stacked matrices (A, B, C contiguous).
Tensor batched_gemm(const Tensor& A, const Tensor& B, bool ta, bool tb, const Shape& batch,
                    int64_t m, int64_t n, int64_t k) {
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor C = Tensor::empty(out_shape, DType::Float32);
  int64_t nb = shape_numel(batch);
  const float* a = A.data<float>();
  const float* b = B.data<float>();
  float* c = C.data<float>();
  for (int64_t i = 0; i < nb; ++i) kernels::gemm(ta, tb, m, n, k, a + i * m * k, b + i * k * n, c + i * m * n);
  return C;
}

Shape with_matrix(Shape batch, int64_t r, int64_t c) {
  batch.push_back(r);
  batch.push_back(c);
  return batch;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = as_float(a_in, "matmul"), b = as_float(b_in, "matmul");
  if (a.dim() == 0 || b.dim() == 0)
    throw std::invalid_argument("[matmul] operands must have rank >= 1, got shapes " + shape_str(a.shape()) +
                                " and " + shape_str(b.shape()));
  Shape as = a.shape(), bs = b.shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), k2 = bs[bs.size() - 2], n = bs.back();
  if (k != k2)
    throw std::invalid_argument("[matmul] incompatible shapes " + shape_str(a.shape()) + " and " +
                                shape_str(b.shape()) + ": contraction dimensions " + std::to_string(k) +
                                " and " + std::to_string(k2) + " differ");
  Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(abatch, bbatch, "matmul");
  } catch (const std::invalid_argument&) {  // name the operands' shapes, not just their batch parts
    throw std::invalid_argument("[matmul] incompatible shapes " + shape_str(a.shape()) + " and " +
                                shape_str(b.shape()) + ": batch dimensions " + shape_str(abatch) +
                                " and " + shape_str(bbatch) + " cannot be broadcast together");
  }
  Shape out_full = with_matrix(batch, m, n);
  Shape final_shape = batch;
  if (!a_vec) final_shape.push_back(m);
  if (!b_vec) final_shape.push_back(n);

  Tensor ap = a.view(as), bp = b.view(bs);
  Tensor out;
  const bool fold = bbatch.empty();  // b is one matrix: fold a's batch axes into its rows
  Tensor af, bf;  // a and b broadcast to the full batch (general case)
  if (fold) {
    const int64_t r = shape_numel(abatch) * m;
    out = Tensor::empty(out_full, DType::Float32);
    kernels::gemm(false, false, r, n, k, ap.data<float>(), bp.data<float>(), out.data<float>());
  } else {
    af = abatch == batch ? ap : broadcast_to(ap, with_matrix(batch, m, k));
    bf = bbatch == batch ? bp : broadcast_to(bp, with_matrix(batch, k, n));
    out = batched_gemm(af, bf, false, false, batch, m, n, k);
  }
  Tensor result = out.view(final_shape);

  if (recording({&a_in, &b_in})) {
    Shape a_shape = a.shape(), b_shape = b.shape();
    // dA = G @ B^T, dB = A^T @ G (summed over broadcast batch axes)
    record(result, "matmul", {a_in, b_in},
           [=](const Tensor& g, const std::vector<bool>& need) {
             Tensor gf = g.view(out_full);
             Tensor da, db;
             if (fold) {
               const int64_t r = shape_numel(abatch) * m;
               if (need[0]) {
                 da = Tensor::empty(as, DType::Float32);
                 kernels::gemm(false, true, r, k, n, gf.data<float>(), bp.data<float>(), da.data<float>());
               }
               if (need[1]) {
                 db = Tensor::empty(bs, DType::Float32);
                 kernels::gemm(true, false, k, n, r, ap.data<float>(), gf.data<float>(), db.data<float>());
               }
             } else {
               if (need[0]) da = sum_to(batched_gemm(gf, bf, false, true, batch, m, k, n), as);
               if (need[1]) db = sum_to(batched_gemm(af, gf, true, false, batch, k, n, m), bs);
             }
             return std::vector<Tensor>{da.defined() ? da.view(a_shape) : da,
                                        db.defined() ? db.view(b_shape) : db};
           });
  }
  return result;
}

}  // namespace ops
}  // namespace lamina

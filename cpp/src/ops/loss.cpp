// Fused losses.
#include "kernels/softmax.hpp"
#include "op_util.hpp"

namespace lamina {
namespace ops {
using namespace detail;

Tensor sparse_categorical_crossentropy(const Tensor& logits, const Tensor& labels) {
  const char* op = "sparse_categorical_crossentropy";
  require_float(logits, op);
  check_defined(labels, op);
  if (labels.dtype() != DType::Int32 && labels.dtype() != DType::Int64)
    throw TypeError(tag(op) + "labels must be int32 or int64 class indices, got " + dtype_name(labels.dtype()));
  if (logits.dim() < 1)
    throw std::invalid_argument(tag(op) + "logits must have rank >= 1, got shape " + shape_str(logits.shape()));
  Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  if (labels.shape() != lead)
    throw std::invalid_argument(tag(op) + "labels of shape " + shape_str(labels.shape()) +
                                " do not match logits of shape " + shape_str(logits.shape()) +
                                ": expected labels of shape " + shape_str(lead));
  const int64_t classes = logits.shape().back(), rows = labels.numel();
  Tensor lab = cast(labels, DType::Int64);
  const int64_t* lp = lab.data<int64_t>();
  for (int64_t i = 0; i < rows; ++i)
    if (lp[i] < 0 || lp[i] >= classes)
      throw std::out_of_range(tag(op) + "label " + std::to_string(lp[i]) + " is out of range [0, " +
                              std::to_string(classes) + ")");
  Tensor loss = Tensor::empty(lead, DType::Float32);
  Tensor probs = Tensor::empty(logits.shape(), DType::Float32);
  kernels::softmax_xent(logits.data<float>(), lp, loss.data<float>(), probs.data<float>(), rows, classes);
  if (recording({&logits})) {
    // d loss_r / d z_rj = (softmax(z_r)_j - [j == label_r]) * g_r
    record(loss, op, {logits}, [probs, lab, rows, classes](const Tensor& g, const std::vector<bool>&) {
      Tensor dz = Tensor::empty(probs.shape(), DType::Float32);
      const float* p = probs.data<float>();
      const float* gp = g.data<float>();
      const int64_t* l = lab.data<int64_t>();
      float* d = dz.data<float>();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < classes; ++j) d[r * classes + j] = p[r * classes + j] * gp[r];
        d[r * classes + l[r]] -= gp[r];
      }
      return std::vector<Tensor>{dz};
    });
  }
  return loss;
}

}  // namespace ops
}  // namespace lamina

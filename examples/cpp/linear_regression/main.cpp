#include <lamina/lamina.hpp>

#include <cstdio>
#include <vector>

using namespace lamina;

int main() {
  // y = 3x - 1 on 64 points; fit w, b by gradient descent with lamina's Adam.
  std::vector<float> xs(64), ys(64);
  for (int i = 0; i < 64; ++i) {
    xs[i] = i / 32.f - 1.f;
    ys[i] = 3.f * xs[i] - 1.f;
  }
  Tensor x = ops::from_data(xs.data(), {64, 1}, DType::Float32);
  Tensor y = ops::from_data(ys.data(), {64, 1}, DType::Float32);
  Tensor w = ops::random_normal({1, 1}, 0.0, 1.0, /*seed=*/0);
  Tensor b = ops::zeros({1});
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  optim::Adam adam(0.1);
  std::vector<Tensor> params{w, b};
  for (int step = 0; step < 300; ++step) {
    Tensor loss;
    {
      GradRecording rec;  // ops inside record their backward
      Tensor err = ops::subtract(ops::dense(x, w, b), y);
      loss = ops::mean(ops::square(err));
    }
    adam.zero_grad(params);
    backward(loss);
    adam.step(params);
    if (step % 100 == 0) std::printf("step %d loss %.5f\n", step, loss.item());
  }
  std::printf("w = %.3f, b = %.3f\n", w.item(), b.item());
  try {
    ops::matmul(ops::ones({2, 3}), ops::ones({4, 5}));
  } catch (const std::invalid_argument& e) {
    std::printf("error: %s\n", e.what());
  }
}

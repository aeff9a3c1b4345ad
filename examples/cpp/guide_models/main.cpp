// The guide's CNN and the W2 MLP of bench/WORKLOADS.md, from C++ with no Python:
// build them with lamina::nn, print their summaries, run the CNN forward on a batch of images and
// train the MLP with Adam on data made here (three Gaussian blobs in 784 dimensions).
#include <lamina/lamina.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

using namespace lamina;

int main() {
  set_random_seed(0);

  // The guide's convolution stack with its classification head (49,002 parameters).
  nn::Sequential cnn({}, "guide_cnn");
  cnn.add(std::make_shared<nn::Conv2D>(32, 5, 2, "valid", "relu"));
  cnn.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
  cnn.add(std::make_shared<nn::MaxPooling2D>(3));
  cnn.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
  cnn.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
  cnn.add(std::make_shared<nn::MaxPooling2D>(3));
  cnn.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
  cnn.add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu"));
  cnn.add(std::make_shared<nn::MaxPooling2D>(2));
  cnn.add(std::make_shared<nn::GlobalMaxPooling2D>());
  cnn.add(std::make_shared<nn::Dense>(10));
  Tensor images = ops::random_uniform({4, 250, 250, 3}, 0.0, 1.0, /*seed=*/1);
  Tensor logits;
  {
    NoGrad inference;
    auto t0 = std::chrono::steady_clock::now();
    logits = cnn.forward(images);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << cnn.summary();
    std::printf("guide CNN: logits %s for 4 images of 250x250x3 in %.1f ms, %lld parameters\n",
                shape_str(logits.shape()).c_str(), ms, static_cast<long long>(cnn.count_params()));
  }

  // The W2 MLP: 784 -> 512 (relu) -> 512 (relu) -> 10, trained on three separable blobs.
  nn::Sequential mlp({std::make_shared<nn::Dense>(512, "relu"), std::make_shared<nn::Dense>(512, "relu"),
                      std::make_shared<nn::Dense>(10)},
                     "w2_mlp");
  const int64_t n = 256;
  Tensor x = ops::random_normal({n, 784}, 0.0, 1.0, /*seed=*/2);
  std::vector<int64_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = i % 3;
  // Shift each class's mean along its own direction so that the classes separate.
  std::vector<float> shift(static_cast<size_t>(n) * 784, 0.f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < 784; ++j)
      if (j % 3 == labels[i]) shift[static_cast<size_t>(i) * 784 + j] = 0.5f;
  x = ops::add(x, ops::from_data(shift.data(), {n, 784}, DType::Float32));
  Tensor y = ops::from_data(labels.data(), {n}, DType::Int64);
  mlp.forward(x);  // build
  std::vector<Tensor> params = mlp.trainable_weights();
  optim::Adam adam(1e-3f);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss;
    {
      GradRecording rec;
      loss = ops::mean(ops::sparse_categorical_crossentropy(mlp.forward(x, /*training=*/true), y));
    }
    optim::Optimizer::zero_grad(params);
    backward(loss);
    adam.step(params);
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  std::cout << mlp.summary();
  std::printf("W2 MLP: loss %.4f -> %.4f after 30 Adam steps on %lld samples\n", first, last,
              static_cast<long long>(n));
  return last < first / 5 ? 0 : 1;
}

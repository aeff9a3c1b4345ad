// lamina::nn layers (nn.hpp): the guide's CNN (shapes, parameter count, summary), training a small
// MLP with optim::Adam, Dropout, errors, parity with the raw ops the Python layers call (same
// weights -> identical outputs and gradients), and inference from several threads at once.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.hpp"

using lamina::Tensor;
namespace nn = lamina::nn;
namespace ops = lamina::ops;

namespace {

std::shared_ptr<nn::Sequential> guide_cnn() {
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Conv2D>(32, 5, 2, "valid", "relu", true, 1));
  m->add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, 2));
  m->add(std::make_shared<nn::MaxPooling2D>(3));
  m->add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, 3));
  m->add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, 4));
  m->add(std::make_shared<nn::MaxPooling2D>(3));
  m->add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, 5));
  m->add(std::make_shared<nn::Conv2D>(32, 3, 1, "valid", "relu", true, 6));
  m->add(std::make_shared<nn::MaxPooling2D>(2));
  m->add(std::make_shared<nn::GlobalMaxPooling2D>());
  m->add(std::make_shared<nn::Dense>(10, "linear", true, 7));
  return m;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

void expect_equal(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  std::vector<float> va = lt::values(a), vb = lt::values(b);
  for (size_t i = 0; i < va.size(); ++i) ASSERT_EQ(va[i], vb[i]) << "at flat index " << i;
}

}  // namespace

TEST(NnSequential, GuideCnnShapesParamsSummary) {
  auto model = guide_cnn();
  EXPECT_FALSE(model->built());
  lt::expect_throw_msg<std::invalid_argument>([&] { model->summary(); }, "has not yet been built");
  Tensor x = ops::random_uniform({2, 250, 250, 3}, 0.0, 1.0, 0);
  Tensor y;
  {
    lamina::NoGrad ng;
    y = model->forward(x);
  }
  EXPECT_TRUE(model->built());
  EXPECT_EQ(y.shape(), (lamina::Shape{2, 10}));
  EXPECT_EQ(model->count_params(), 49002);
  EXPECT_EQ(model->weights().size(), 14u);
  for (const Tensor& w : model->weights()) EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(model->output_shape({-1, 250, 250, 3}), (lamina::Shape{-1, 10}));
  const std::string s = model->summary();
  EXPECT_TRUE(contains(s, "(None, 123, 123, 32)")) << s;
  EXPECT_TRUE(contains(s, "(None, 40, 40, 32)")) << s;
  EXPECT_TRUE(contains(s, "(None, 4, 4, 32)")) << s;
  EXPECT_TRUE(contains(s, "(None, 10)")) << s;
  EXPECT_TRUE(contains(s, "Total params: 49,002")) << s;
  EXPECT_TRUE(contains(s, "(Conv2D)")) << s;
  EXPECT_TRUE(contains(s, "2,432")) << s;
}

TEST(NnLayers, NamesInitAndBuild) {
  nn::Dense a(4), b(4);
  EXPECT_NE(a.name(), b.name());
  EXPECT_EQ(a.name().rfind("dense", 0), 0u);
  nn::Dense named(3, "relu", true, -1, "head");
  EXPECT_EQ(named.name(), "head");
  lt::expect_throw_msg<std::invalid_argument>([&] { a.count_params(); }, "isn't built");

  nn::Dense d(50, "linear", true, 42);
  d.build({-1, 30});
  EXPECT_TRUE(d.built());
  EXPECT_EQ(d.count_params(), 30 * 50 + 50);
  const float limit = std::sqrt(6.f / 80.f);
  float maxabs = 0.f;
  for (float v : lt::values(d.kernel())) maxabs = std::max(maxabs, std::fabs(v));
  EXPECT_LE(maxabs, limit);
  EXPECT_GT(maxabs, 0.8f * limit);
  for (float v : lt::values(d.bias())) EXPECT_EQ(v, 0.f);
  nn::Dense d2(50, "linear", true, 42);
  d2.build({-1, 30});
  expect_equal(d.kernel(), d2.kernel());  // seeded init is reproducible

  nn::Conv2D c(8, {3, 2}, 1, "same", "linear", false, 0);
  c.build({-1, 5, 5, 4});
  EXPECT_EQ(c.kernel().shape(), (lamina::Shape{3, 2, 4, 8}));
  EXPECT_FALSE(c.bias().defined());
  EXPECT_EQ(c.output_shape({-1, 5, 5, 4}), (lamina::Shape{-1, 5, 5, 8}));

  nn::Flatten f;
  EXPECT_EQ(f.output_shape({-1, 2, 3, 4}), (lamina::Shape{-1, 24}));
  EXPECT_EQ(f.forward(ops::zeros({2, 2, 3, 4})).shape(), (lamina::Shape{2, 24}));
  nn::AveragePooling2D ap(2, 1);
  EXPECT_EQ(ap.output_shape({-1, 5, 5, 3}), (lamina::Shape{-1, 4, 4, 3}));
  lt::expect_near(ap.forward(ops::ones({1, 3, 3, 1})), {1.f, 1.f, 1.f, 1.f});
}

TEST(NnLayers, DropoutOnlyWhenTraining) {
  nn::Dropout drop(0.5, 3);
  Tensor x = ops::ones({4, 100});
  expect_equal(drop.forward(x), x);
  expect_equal(drop.forward(x, false), x);
  Tensor y = drop.forward(x, true);
  int zeros = 0;
  for (float v : lt::values(y)) {
    EXPECT_TRUE(v == 0.f || std::fabs(v - 2.f) < 1e-6f) << v;
    zeros += v == 0.f;
  }
  EXPECT_GT(zeros, 100);
  EXPECT_LT(zeros, 300);
  EXPECT_EQ(drop.count_params(), 0);
}

TEST(NnLayers, Errors) {
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Dense(0); }, "expected a positive integer");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Dense(3, "swish_x"); }, "Could not interpret activation");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Conv2D(0, 3); }, "Expected a strictly positive value");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Conv2D(4, 3, 1, "full"); }, "`padding` argument");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::MaxPooling2D(0); }, "pool_size");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Dropout(1.5); }, "between 0 and 1");

  nn::Dense d(3);
  d.forward(ops::zeros({2, 4}));
  lt::expect_throw_msg<std::invalid_argument>([&] { d.forward(ops::zeros({2, 5})); },
                                              "expected axis -1 of input shape to have value 4");
  nn::Conv2D c(4, 5);
  lt::expect_throw_msg<std::invalid_argument>([&] { c.forward(ops::zeros({1, 3, 3, 2})); },
                                              "Computed output size would be zero or negative");
  lt::expect_throw_msg<std::invalid_argument>([&] { c.forward(ops::zeros({3, 3, 2})); }, "expected ndim=4");
  nn::MaxPooling2D p(4);
  lt::expect_throw_msg<std::invalid_argument>([&] { p.forward(ops::zeros({1, 3, 3, 2})); },
                                              "Computed output size would be zero or negative");
  nn::Sequential m;
  lt::expect_throw_msg<std::invalid_argument>([&] { m.add(nullptr); }, "can be added to a Sequential");
  auto l = std::make_shared<nn::Dense>(2);
  m.add(l);
  lt::expect_throw_msg<std::invalid_argument>([&] { m.add(l); }, "unique names");
  lt::expect_throw_msg<std::invalid_argument>([&] { m.count_params(); }, "isn't built");
}

TEST(NnSequential, TrainsMlpWithAdam) {
  // Three well-separated Gaussian blobs in 2-D.
  const int n = 150;
  std::vector<float> xs(n * 2);
  std::vector<int64_t> ys(n);
  const float centers[3][2] = {{-2.f, -2.f}, {2.f, -2.f}, {0.f, 2.5f}};
  std::vector<float> noise = lt::values(ops::random_normal({n, 2}, 0.0, 0.3, 11));
  for (int i = 0; i < n; ++i) {
    ys[i] = i % 3;
    xs[2 * i] = centers[i % 3][0] + noise[2 * i];
    xs[2 * i + 1] = centers[i % 3][1] + noise[2 * i + 1];
  }
  Tensor x = lt::f32({n, 2}, xs), y = lt::i64({n}, ys);

  nn::Sequential model({std::make_shared<nn::Dense>(16, "relu", true, 1), std::make_shared<nn::Dense>(3, "linear", true, 2)});
  model.build(x.shape());
  std::vector<Tensor> params = model.weights();
  ASSERT_EQ(params.size(), 4u);
  lamina::optim::Adam opt(0.05f);
  auto loss_of = [&] {
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::mean(ops::sparse_softmax_cross_entropy(model.forward(x, true), y));
    }
    return loss;
  };
  const double first = loss_of().item();
  for (int step = 0; step < 100; ++step) {
    Tensor loss = loss_of();
    lamina::backward(loss);
    opt.step(params);
    lamina::optim::Optimizer::zero_grad(params);
  }
  const double last = loss_of().item();
  EXPECT_LT(last * 5.0, first) << "first " << first << " last " << last;
}

// nn layers and the ops the Python layers call (ops::dense / ops::conv2d) must agree exactly.
TEST(NnParity, DenseMatchesOpsDense) {
  for (const char* act : {"linear", "relu"}) {
    nn::Dense layer(5, act, true, 3);
    Tensor x = ops::random_normal({4, 6}, 0.0, 1.0, 9);
    layer.build(x.shape());
    Tensor k = layer.kernel().detach().clone(), b = ops::random_normal({5}, 0.0, 1.0, 4);
    layer.bias().assign(b);
    b = b.clone();
    k.set_requires_grad(true);
    b.set_requires_grad(true);
    Tensor y_layer, y_op;
    {
      lamina::GradRecording rec;
      y_layer = layer.forward(x);
      y_op = ops::dense(x, k, b, act);
    }
    expect_equal(y_layer, y_op);
    Tensor g = ops::random_normal({4, 5}, 0.0, 1.0, 5);
    lamina::backward(y_layer, g);
    lamina::backward(y_op, g);
    expect_equal(layer.kernel().grad(), k.grad());
    expect_equal(layer.bias().grad(), b.grad());
  }
}

TEST(NnParity, Conv2DMatchesOpsConv2d) {
  for (const char* padding : {"valid", "same"}) {
    nn::Conv2D layer(4, {3, 2}, {2, 1}, padding, "relu", true, 3);
    Tensor x = ops::random_normal({2, 7, 6, 3}, 0.0, 1.0, 9);
    layer.build(x.shape());
    Tensor b = ops::random_normal({4}, 0.0, 1.0, 4);
    layer.bias().assign(b);
    Tensor k = layer.kernel().detach().clone();
    b = b.clone();
    k.set_requires_grad(true);
    b.set_requires_grad(true);
    Tensor y_layer, y_op;
    {
      lamina::GradRecording rec;
      y_layer = layer.forward(x);
      y_op = ops::conv2d(x, k, b, {2, 1}, padding, {1, 1}, "relu");
    }
    expect_equal(y_layer, y_op);
    Tensor g = ops::random_normal(y_op.shape(), 0.0, 1.0, 5);
    lamina::backward(y_layer, g);
    lamina::backward(y_op, g);
    expect_equal(layer.kernel().grad(), k.grad());
    expect_equal(layer.bias().grad(), b.grad());
  }
}

TEST(NnThreads, ConcurrentInferenceMatchesSequential) {
  auto model = guide_cnn();
  const int threads = 4;
  std::vector<Tensor> inputs, expected(threads), got(threads);
  for (int t = 0; t < threads; ++t) inputs.push_back(ops::random_uniform({2, 150, 150, 3}, 0.0, 1.0, 100 + t));
  {
    lamina::NoGrad ng;
    for (int t = 0; t < threads; ++t) expected[t] = model->forward(inputs[t]);
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      lamina::NoGrad ng;
      for (int rep = 0; rep < 3; ++rep) got[t] = model->forward(inputs[t]);
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) expect_equal(got[t], expected[t]);
}

// lamina::nn layers (nn.hpp): the guide's CNN (shapes, parameter count, summary), training a small
// MLP with optim::Adam, Dropout, BatchNormalization, the merging layers, trainable flags and
// set_weights, errors, parity with the raw ops the Python layers call (same
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
  std::vector<Tensor> params = model.trainable_weights();
  ASSERT_EQ(params.size(), 4u);
  lamina::optim::Adam opt(0.05f);
  auto loss_of = [&] {
    Tensor loss;
    {
      lamina::GradRecording rec;
      loss = ops::mean(ops::sparse_categorical_crossentropy(model.forward(x, true), y));
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

// nn layers and the ops the Python layers call (ops::dense / ops::conv) must agree exactly.
TEST(NnParity, DenseMatchesOpsDense) {
  for (const std::string& act : ops::activation_names()) {
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
      y_op = ops::dense(x, k, b, ops::activation_from_name(act));
    }
    expect_equal(y_layer, y_op);
    Tensor g = ops::random_normal({4, 5}, 0.0, 1.0, 5);
    lamina::backward(y_layer, g);
    lamina::backward(y_op, g);
    expect_equal(layer.kernel().grad(), k.grad());
    expect_equal(layer.bias().grad(), b.grad());
  }
}

TEST(NnParity, Conv2DMatchesOpsConv) {
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
      y_op = ops::conv(x, k, b, {2, 1}, padding, {1, 1}, ops::Activation::Relu);
    }
    expect_equal(y_layer, y_op);
    Tensor g = ops::random_normal(y_op.shape(), 0.0, 1.0, 5);
    lamina::backward(y_layer, g);
    lamina::backward(y_op, g);
    expect_equal(layer.kernel().grad(), k.grad());
    expect_equal(layer.bias().grad(), b.grad());
  }
}

TEST(NnLayers, BatchNormalizationTrainingInferenceAndFreezing) {
  nn::BatchNormalization bn(-1, 0.9, 1e-3);
  Tensor x = lt::f32({4, 2}, {1, 10, 2, 20, 3, 30, 6, 40});
  {
    lamina::NoGrad ng;
    Tensor y0 = bn.forward(x);  // inference before training: moving mean 0, variance 1
    std::vector<float> want;
    for (float v : lt::values(x)) want.push_back(v / std::sqrt(1.f + 1e-3f));
    lt::expect_near(y0, want);
  }
  ASSERT_EQ(bn.weights().size(), 4u);
  EXPECT_EQ(bn.trainable_weights().size(), 2u);  // gamma, beta
  EXPECT_EQ(bn.non_trainable_weights().size(), 2u);
  EXPECT_TRUE(bn.gamma().requires_grad());
  EXPECT_FALSE(bn.moving_mean().requires_grad());
  EXPECT_EQ(bn.count_params(), 8);

  Tensor y = bn.forward(x, true);  // batch statistics: mean (3, 25), biased variance (3.5, 125)
  const float m0 = 3.f, m1 = 25.f, v0 = 3.5f, v1 = 125.f;
  lt::expect_near(y, {(1 - m0) / std::sqrt(v0 + 1e-3f), (10 - m1) / std::sqrt(v1 + 1e-3f),
                      (2 - m0) / std::sqrt(v0 + 1e-3f), (20 - m1) / std::sqrt(v1 + 1e-3f),
                      (3 - m0) / std::sqrt(v0 + 1e-3f), (30 - m1) / std::sqrt(v1 + 1e-3f),
                      (6 - m0) / std::sqrt(v0 + 1e-3f), (40 - m1) / std::sqrt(v1 + 1e-3f)}, 1e-4f);
  lt::expect_near(bn.moving_mean(), {0.1f * m0, 0.1f * m1}, 1e-5f);
  lt::expect_near(bn.moving_variance(), {0.9f + 0.1f * v0, 0.9f + 0.1f * v1}, 1e-4f);

  // frozen: inference mode even with training=true, statistics unchanged, no trainable weights
  bn.set_trainable(false);
  EXPECT_TRUE(bn.trainable_weights().empty());
  EXPECT_EQ(bn.non_trainable_weights().size(), 4u);
  EXPECT_FALSE(bn.gamma().requires_grad());
  const std::vector<float> mm = lt::values(bn.moving_mean());
  expect_equal(bn.forward(x, true), bn.forward(x, false));
  EXPECT_EQ(lt::values(bn.moving_mean()), mm);
  bn.set_trainable(true);
  EXPECT_TRUE(bn.gamma().requires_grad());

  // a channel axis other than the last gives the same numbers as the last one on transposed input
  nn::BatchNormalization first(1), last(-1);
  Tensor xc = ops::random_normal({3, 4, 5}, 0.0, 1.0, 9);  // channels on axis 1
  Tensor yc = first.forward(xc, true);
  Tensor yl = last.forward(ops::transpose(xc, {0, 2, 1}), true);
  lt::expect_near(ops::transpose(yc, {0, 2, 1}), lt::values(yl), 1e-5f);
  lt::expect_near(first.moving_variance(), lt::values(last.moving_variance()), 1e-6f);

  nn::BatchNormalization no_affine(-1, 0.99, 1e-3, /*center=*/false, /*scale=*/false);
  no_affine.build({-1, 3});
  EXPECT_EQ(no_affine.weights().size(), 2u);
  EXPECT_FALSE(no_affine.gamma().defined());
  lt::expect_throw_msg<std::invalid_argument>([] { nn::BatchNormalization(-1, 0.99, 0.0); }, "epsilon");
  lt::expect_throw_msg<std::invalid_argument>([&] { bn.forward(ops::zeros({2, 3})); }, "incompatible");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::BatchNormalization b(3); b.build({-1, 2}); }, "out of bounds");
}

TEST(NnLayers, GlobalAveragePoolingReshapeActivation) {
  Tensor x = ops::random_uniform({2, 3, 4, 5}, -1.0, 1.0, 4);
  nn::GlobalAveragePooling2D gap, gap_keep(true);
  expect_equal(gap.forward(x), ops::mean(x, {1, 2}));
  EXPECT_EQ(gap_keep.output_shape({-1, 3, 4, 5}), (lamina::Shape{-1, 1, 1, 5}));
  EXPECT_EQ(gap.class_name(), "GlobalAveragePooling2D");

  nn::Reshape r({4, -1});
  EXPECT_EQ(r.output_shape({-1, 3, 4, 5}), (lamina::Shape{-1, 4, 15}));
  EXPECT_EQ(r.output_shape({-1, -1, 4, 5}), (lamina::Shape{-1, 4, -1}));
  EXPECT_EQ(r.forward(x).shape(), (lamina::Shape{2, 4, 15}));
  lt::expect_throw_msg<std::invalid_argument>([&] { r.output_shape({-1, 7}); }, "cannot by divided");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Reshape({2, 3}).output_shape({-1, 7}); },
                                              "total size of the tensor must be unchanged");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Reshape({-1, -1}); }, "at most one unknown");

  Tensor z = lt::f32({1, 4}, {-2.f, -0.5f, 0.f, 3.f});
  expect_equal(nn::Activation("relu").forward(z), ops::relu(z));
  expect_equal(nn::Activation("swish").forward(z), ops::silu(z));
  expect_equal(nn::Activation("gelu").forward(z), ops::gelu(z, false));
  expect_equal(nn::Activation("leaky_relu").forward(z), ops::leaky_relu(z, 0.2));
  expect_equal(nn::Activation("softmax").forward(z), ops::softmax(z, -1));
  expect_equal(nn::Activation("").forward(z), z);
  lt::expect_throw_msg<std::invalid_argument>([] { nn::Activation("nope"); },
                                              "Could not interpret activation function identifier: nope");
  nn::Dense d(3, "tanh", true, 1);
  Tensor in = ops::random_uniform({2, 4}, -1.0, 1.0, 2);
  Tensor out = d.forward(in);
  expect_equal(out, ops::tanh(ops::dense(in, d.kernel(), d.bias())));
}

TEST(NnLayers, MergingLayers) {
  Tensor a = lt::f32({2, 2}, {1, 5, -3, 4}), b = lt::f32({2, 2}, {2, 2, 2, 2}), c = lt::f32({1, 2}, {10, 20});
  lt::expect_near(nn::Add()({a, b, c}), {13, 27, 9, 26});
  lt::expect_near(nn::Subtract()({a, b}), {-1, 3, -5, 2});
  lt::expect_near(nn::Multiply()({a, b}), {2, 10, -6, 8});
  lt::expect_near(nn::Average()({a, b}), {1.5f, 3.5f, -0.5f, 3});
  lt::expect_near(nn::Maximum()({a, b}), {2, 5, 2, 4});
  lt::expect_near(nn::Minimum()({a, b}), {1, 2, -3, 2});
  nn::Concatenate cat, cat0(0);
  lt::expect_near(cat({a, b}), {1, 5, 2, 2, -3, 4, 2, 2});
  EXPECT_EQ(cat0({a, c}).shape(), (lamina::Shape{3, 2}));
  EXPECT_EQ(cat.output_shape(std::vector<lamina::Shape>{{-1, 2}, {-1, 3}}), (lamina::Shape{-1, 5}));
  EXPECT_EQ(nn::Add().output_shape(std::vector<lamina::Shape>{{-1, 1, 4}, {-1, 3, 1}}), (lamina::Shape{-1, 3, 4}));

  lt::expect_throw_msg<std::invalid_argument>([&] { nn::Subtract()({a, b, c}); }, "exactly 2 inputs");
  lt::expect_throw_msg<std::invalid_argument>([&] { nn::Subtract()({a}); }, "at least 2 inputs");
  lt::expect_throw_msg<std::invalid_argument>([&] { nn::Add()({a, ops::zeros({2, 3})}); },
                                              "Inputs have incompatible shapes");
  lt::expect_throw_msg<std::invalid_argument>([&] { cat({a, ops::zeros({3, 3})}); }, "matching shapes");
  nn::Add add;
  nn::Layer& as_layer = add;
  lt::expect_throw_msg<std::invalid_argument>([&] { as_layer.forward(a); }, "should be called on a list of inputs");
  nn::Sequential seq;
  seq.add(std::make_shared<nn::Add>());
  lt::expect_throw_msg<std::invalid_argument>([&] { seq.forward(a); }, "should be called on a list of inputs");

  // gradients flow through every input
  Tensor p = ops::random_uniform({3, 4}, -1.0, 1.0, 1), q = ops::random_uniform({3, 4}, -1.0, 1.0, 2);
  p.set_requires_grad(true);
  q.set_requires_grad(true);
  Tensor loss;
  {
    lamina::GradRecording rec;
    loss = ops::sum(nn::Multiply()({nn::Concatenate()({p, q}), nn::Concatenate()({q, p})}));
  }
  lamina::backward(loss);
  lt::expect_near(p.grad(), lt::values(ops::multiply(q, ops::scalar(2.0))), 1e-6f);
}

TEST(NnSequential, TrainableFlagsSetWeightsAndSummary) {
  auto model = std::make_shared<nn::Sequential>();
  auto dense = std::make_shared<nn::Dense>(4, "relu", true, 1);
  model->add(dense);
  model->add(std::make_shared<nn::BatchNormalization>());
  model->add(std::make_shared<nn::Dense>(2, "linear", true, 2));
  model->build({-1, 3});
  EXPECT_EQ(model->weights().size(), 8u);
  EXPECT_EQ(model->trainable_weights().size(), 6u);
  EXPECT_EQ(model->non_trainable_weights().size(), 2u);
  std::string s = model->summary();
  EXPECT_TRUE(contains(s, "Total params: 42 (168.00 B)")) << s;
  EXPECT_TRUE(contains(s, "Trainable params: 34 (136.00 B)")) << s;
  EXPECT_TRUE(contains(s, "Non-trainable params: 8 (32.00 B)")) << s;

  dense->set_trainable(false);
  EXPECT_EQ(model->trainable_weights().size(), 4u);
  EXPECT_FALSE(dense->kernel().requires_grad());
  model->set_trainable(false);
  EXPECT_TRUE(model->trainable_weights().empty());
  EXPECT_TRUE(contains(model->summary(), "Trainable params: 0 (0.00 B)"));
  model->set_trainable(true);
  EXPECT_EQ(model->trainable_weights().size(), 6u);

  // set_weights: everything checked before anything changes
  std::vector<Tensor> values;
  for (const Tensor& w : model->weights()) values.push_back(ops::full(w.shape(), 0.5));
  std::vector<Tensor> bad = values;
  bad.back() = ops::zeros({3});
  const std::vector<float> before = lt::values(dense->kernel());
  lt::expect_throw_msg<std::invalid_argument>([&] { model->set_weights(bad); }, "is not compatible with provided");
  EXPECT_EQ(lt::values(dense->kernel()), before);
  lt::expect_throw_msg<std::invalid_argument>([&] { model->set_weights({values[0]}); },
                                              "with a weight list of length 1, but the layer was expecting 8");
  Tensor kept = dense->kernel();
  Tensor view = ops::reshape(kept, {-1});  // shares storage: keeps its old values
  model->set_weights(values);
  for (float v : lt::values(dense->kernel())) EXPECT_EQ(v, 0.5f);
  EXPECT_EQ(lt::values(view), before);
  EXPECT_TRUE(dense->kernel().requires_grad());
  nn::Dense unbuilt(2);
  lt::expect_throw_msg<std::invalid_argument>([&] { unbuilt.set_weights({}); }, "isn't built");
}

// The training example of docs/cpp.md (a residual block with batch normalization), as written there.
TEST(NnLayers, DocsResidualBlockTrains) {
  using namespace lamina;
  Tensor images = ops::random_normal({16, 8, 8, 3}, 0.0, 1.0, 11);
  Tensor labels = ops::cast(ops::argmax(ops::mean(images, {1, 2}), -1), DType::Int32);  // learnable
  auto conv = std::make_shared<nn::Conv2D>(16, 3, 1, "same", "relu");
  auto bn = std::make_shared<nn::BatchNormalization>();
  auto skip = std::make_shared<nn::Conv2D>(16, 1);
  nn::Add add;
  nn::Sequential head({std::make_shared<nn::GlobalAveragePooling2D>(), std::make_shared<nn::Dense>(10)});

  auto forward = [&](const Tensor& x, bool training) {
    Tensor a = bn->forward(conv->forward(x), training);  // batch statistics while training
    return head.forward(add({a, skip->forward(x)}), training);
  };
  forward(images, false);  // builds every layer
  std::vector<Tensor> params;  // what the optimizer updates
  for (nn::Layer* layer : std::vector<nn::Layer*>{conv.get(), bn.get(), skip.get(), &head})
    for (const Tensor& w : layer->trainable_weights()) params.push_back(w);
  EXPECT_EQ(params.size(), 8u);
  optim::Adam adam(1e-2);
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    Tensor loss;
    {
      GradRecording rec;
      loss = ops::mean(ops::sparse_categorical_crossentropy(forward(images, true), labels));
    }
    adam.zero_grad(params);
    backward(loss);
    adam.step(params);
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.5 * first);
  EXPECT_NE(lt::values(bn->moving_mean())[0], 0.f);
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

TEST(NnLayers, LayerNormalizationNormalisesEachSample) {
  nn::LayerNormalization ln;  // axis -1, epsilon 1e-3
  Tensor x = lt::f32({2, 4}, {1, 2, 3, 4, 10, 10, 10, 30});
  Tensor y;
  {
    lamina::GradRecording rec;
    y = ln.forward(x);
    lamina::backward(ops::sum(ops::multiply(y, lt::f32({2, 4}, {1, 0, 0, 0, 0, 0, 0, 1}))));
  }
  ASSERT_EQ(ln.weights().size(), 2u);  // gamma, beta
  EXPECT_EQ(ln.gamma().shape(), (lamina::Shape{4}));
  // row 0: mean 2.5, variance 1.25; row 1: mean 15, variance 75
  const float s0 = 1.f / std::sqrt(1.25f + 1e-3f), s1 = 1.f / std::sqrt(75.f + 1e-3f);
  lt::expect_near(y, {-1.5f * s0, -0.5f * s0, 0.5f * s0, 1.5f * s0, -5 * s1, -5 * s1, -5 * s1, 15 * s1}, 1e-5f);
  lt::expect_near(ln.beta().grad(), {1.f, 0.f, 0.f, 1.f});  // dbeta = sum of the upstream gradient
  lt::expect_near(ln.gamma().grad(), {-1.5f * s0, 0.f, 0.f, 15 * s1}, 1e-5f);

  // several axes: gamma has the input's shape at them; the same numbers as one flattened axis
  nn::LayerNormalization ln2({1, 2}, 1e-3, /*center=*/false);
  Tensor x3 = ops::random_normal({2, 3, 4}, 0.0, 1.0, 5);
  Tensor y3 = ln2.forward(x3);
  EXPECT_EQ(ln2.weights().size(), 1u);
  EXPECT_EQ(ln2.gamma().shape(), (lamina::Shape{3, 4}));
  nn::LayerNormalization flat;
  lt::expect_near(ops::reshape(y3, {2, 12}), lt::values(flat.forward(ops::reshape(x3, {2, 12}))), 1e-5f);
  lt::expect_throw_msg<std::invalid_argument>([&] { ln.forward(ops::zeros({2, 3})); }, "incompatible");
  lt::expect_throw_msg<std::invalid_argument>([] { nn::LayerNormalization b({3}); b.build({-1, 2}); },
                                              "out of bounds");
}

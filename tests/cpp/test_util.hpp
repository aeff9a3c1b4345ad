#pragma once
// Small helpers shared by the C++ tests: build tensors from literals, read them back.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <lamina/lamina.hpp>

namespace lt {

inline lamina::Tensor f32(const lamina::Shape& shape, const std::vector<float>& v) {
  return lamina::ops::from_data(v.data(), shape, lamina::DType::Float32);
}

inline lamina::Tensor i64(const lamina::Shape& shape, const std::vector<int64_t>& v) {
  return lamina::ops::from_data(v.data(), shape, lamina::DType::Int64);
}

inline std::vector<float> values(const lamina::Tensor& t) {
  // Sized, then copied: with the (pointer, pointer + int64 count) range constructor inlined into a
  // range-for, GCC 12's pointer-offset tracking reported -Wfree-nonheap-object (25 lines) at the
  // vector's destruction in test_nn.cpp.
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (!v.empty()) std::memcpy(v.data(), t.data<float>(), v.size() * sizeof(float));
  return v;
}

inline void expect_near(const lamina::Tensor& t, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size())) << t.repr();
  std::vector<float> got = values(t);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at flat index " << i;
}

// Runs f, expects it to throw E with `needle` in what().
template <class E, class F>
void expect_throw_msg(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an exception containing \"" << needle << "\"";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

}  // namespace lt

// Tensor basics, dtypes, the caching allocator and the runtime settings.
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "test_util.hpp"

using lamina::DType;
using lamina::Tensor;
namespace ops = lamina::ops;

TEST(Tensor, EmptyHasShapeDtypeAndNumel) {
  Tensor t = Tensor::empty({2, 3, 4}, DType::Int64);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), (lamina::Shape{2, 3, 4}));
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(t.nbytes(), 24u * 8u);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_THROW(t.size(3), std::out_of_range);
  EXPECT_EQ(t.repr(), "Tensor(shape=(2, 3, 4), dtype=int64)");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);  // 64-byte aligned storage
  EXPECT_FALSE(Tensor().defined());
  EXPECT_THROW(Tensor::empty({2, -1}), std::invalid_argument);
  EXPECT_EQ(lamina::shape_str({}), "()");
  EXPECT_EQ(lamina::shape_str({3}), "(3,)");
}

TEST(Tensor, ItemPerDtypeAndWrongSize) {
  Tensor s = ops::scalar(2.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_DOUBLE_EQ(s.item(), 2.5);
  EXPECT_DOUBLE_EQ(ops::full({1, 1}, 7, DType::Int32).item(), 7.0);
  EXPECT_DOUBLE_EQ(ops::full({1}, -3, DType::Int64).item(), -3.0);
  EXPECT_DOUBLE_EQ(ops::ones({}, DType::Bool).item(), 1.0);
  lt::expect_throw_msg<std::invalid_argument>([] { ops::zeros({2}).item(); }, "(2,)");
}

TEST(Tensor, DtypeNamesAndErrors) {
  EXPECT_STREQ(lamina::dtype_name(DType::Float32), "float32");
  EXPECT_STREQ(lamina::dtype_name(DType::Bool), "bool");
  EXPECT_EQ(lamina::dtype_size(DType::Int64), 8u);
  EXPECT_EQ(lamina::dtype_from_name("int32"), DType::Int32);
  EXPECT_THROW(lamina::dtype_from_name("complex64"), lamina::TypeError);
  Tensor t = ops::zeros({2}, DType::Int32);
  EXPECT_THROW(t.data<float>(), lamina::TypeError);
  EXPECT_NO_THROW(t.data<int32_t>());
  EXPECT_THROW(t.set_requires_grad(true), lamina::TypeError);  // only float32 carries gradients
  // Python maps TypeError to TypeError, not to ValueError: it must not be an invalid_argument.
  static_assert(!std::is_base_of<std::invalid_argument, lamina::TypeError>::value, "");
}

TEST(Tensor, CopiesShareStorageCloneDoesNot) {
  Tensor a = lt::f32({3}, {1, 2, 3});
  Tensor alias = a;
  Tensor c = a.clone();
  EXPECT_EQ(alias.id(), a.id());
  EXPECT_NE(c.raw_data(), a.raw_data());
  a.data<float>()[0] = 10;
  EXPECT_FLOAT_EQ(alias.data<float>()[0], 10);
  EXPECT_FLOAT_EQ(c.data<float>()[0], 1);
  EXPECT_EQ(c.shape(), a.shape());
  EXPECT_EQ(c.dtype(), a.dtype());
}

TEST(Tensor, AssignWritesInPlace) {
  Tensor a = ops::zeros({2, 2});
  Tensor shared = a.view({4});
  a.assign(lt::f32({2, 2}, {1, 2, 3, 4}));
  lt::expect_near(shared, {1, 2, 3, 4});  // views of the same storage see the new values
  EXPECT_THROW(a.assign(ops::zeros({4})), std::invalid_argument);
  EXPECT_THROW(a.assign(ops::zeros({2, 2}, DType::Int32)), lamina::TypeError);
}

TEST(Tensor, ViewSharesStorageAndChecksSize) {
  Tensor a = ops::arange(0, 6);
  Tensor v = a.view({2, 3});
  EXPECT_EQ(v.shape(), (lamina::Shape{2, 3}));
  EXPECT_EQ(v.raw_data(), a.raw_data());
  EXPECT_FALSE(v.requires_grad());
  lt::expect_near(v, {0, 1, 2, 3, 4, 5});
  lt::expect_throw_msg<std::invalid_argument>([&] { a.view({4}); }, "(4,)");
}

TEST(Tensor, FromDataCopiesAndCastConverts) {
  std::vector<int32_t> src{1, -2, 3};
  Tensor t = ops::from_data(src.data(), {3}, DType::Int32);
  src[0] = 99;
  EXPECT_EQ(t.data<int32_t>()[0], 1);
  lt::expect_near(ops::cast(t, DType::Float32), {1, -2, 3});
  Tensor back = ops::cast(lt::f32({3}, {1.9f, -1.9f, 0.f}), DType::Int32);
  EXPECT_EQ(back.data<int32_t>()[0], 1);  // truncation toward zero
  EXPECT_EQ(back.data<int32_t>()[1], -1);
  Tensor b = ops::cast(lt::f32({3}, {0.f, 2.f, -1.f}), DType::Bool);
  EXPECT_FALSE(b.data<bool>()[0]);
  EXPECT_TRUE(b.data<bool>()[1]);
}

TEST(Allocator, FreedBufferIsReusedForSameSize) {
  const int64_t n = 123457;  // an unusual size, so no other cached block matches
  Tensor first = Tensor::empty({n});
  void* p = first.raw_data();
  const int64_t alloc_live = lamina::allocated_bytes();
  const int64_t cached_live = lamina::cached_bytes();
  EXPECT_GE(alloc_live, n * 4);

  first = Tensor();  // last handle gone: the buffer goes to the cache, not to the system
  const int64_t freed = alloc_live - lamina::allocated_bytes();
  EXPECT_GE(freed, n * 4);
  EXPECT_EQ(lamina::cached_bytes(), cached_live + freed);

  Tensor second = Tensor::empty({n});
  EXPECT_EQ(second.raw_data(), p);  // same block handed out again
  EXPECT_EQ(lamina::allocated_bytes(), alloc_live);
  EXPECT_EQ(lamina::cached_bytes(), cached_live);

  second = Tensor();
  lamina::empty_cache();
  EXPECT_EQ(lamina::cached_bytes(), 0);
}

TEST(Runtime, NumThreads) {
  const int saved = lamina::get_num_threads();
  EXPECT_GE(saved, 1);
  lamina::set_num_threads(1);
  EXPECT_EQ(lamina::get_num_threads(), 1);
  lamina::set_num_threads(3);
  EXPECT_EQ(lamina::get_num_threads(), 3);
  EXPECT_THROW(lamina::set_num_threads(0), std::invalid_argument);
  EXPECT_THROW(lamina::set_num_threads(-2), std::invalid_argument);
  EXPECT_EQ(lamina::get_num_threads(), 3);  // a rejected value changes nothing
  lamina::set_num_threads(saved);
}

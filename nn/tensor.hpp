// A plain owning tensor: contiguous row-major data (NCHW for images) and its
// shape. Templated on the element type so that the same layers run in float
// (through the emulated hardware) and in double (the exact reference).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace lpsim::nn {

using Shape = std::vector<std::int64_t>;

// "[8, 3, 32, 32]"; a negative entry (a wildcard in expectations) prints as "*".
inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += s[i] < 0 ? std::string("*") : std::to_string(s[i]);
  }
  return out + "]";
}

// The element count; a product beyond 64 bits is an error, never a wrapped
// (small) count that would size a buffer too short.
inline std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw std::length_error("shape " + shape_str(s) + ": element count overflows 64 bits");
  return n;
}

// std::allocator whose value-less construct leaves the element uninitialised:
// resize() then costs nothing, and a tensor's elements are written once, by
// all threads (a serial zero fill of a layer's megabytes idled the others).
template <class T>
struct DefaultInit : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInit<U>;
  };
  DefaultInit() = default;
  template <class U>
  DefaultInit(const DefaultInit<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T>
struct Tensor {
  Shape shape;
  std::vector<T, DefaultInit<T>> data;

  Tensor() = default;
  // Every element `fill` (zero by default).
  explicit Tensor(Shape s, T fill = T(0)) : Tensor(uninitialized(std::move(s))) {
    T* d = data.data();
    const std::int64_t n = numel();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (std::int64_t i = 0; i < n; ++i) d[i] = fill;
  }
  // Elements left for the caller to write, every one of them.
  static Tensor uninitialized(Shape s) {
    for (auto d : s)
      if (d < 0) throw std::invalid_argument("Tensor: negative dimension in shape " + shape_str(s));
    Tensor t;
    t.shape = std::move(s);
    t.data.resize(std::size_t(nn::numel(t.shape)));
    return t;
  }

  std::int64_t numel() const { return std::int64_t(data.size()); }
  int rank() const { return int(shape.size()); }
  std::int64_t dim(int i) const { return shape.at(std::size_t(i)); }
  T* ptr() { return data.data(); }
  const T* ptr() const { return data.data(); }
  T& operator[](std::int64_t i) { return data[std::size_t(i)]; }
  const T& operator[](std::int64_t i) const { return data[std::size_t(i)]; }
};

// The same values in another element type (float <-> double, for tests and
// for comparing a float layer with its fp64 reference).
template <class U, class T>
Tensor<U> cast(const Tensor<T>& t) {
  Tensor<U> out;
  out.shape = t.shape;
  out.data.assign(t.data.begin(), t.data.end());
  return out;
}

// dst = src, reusing dst's buffer when it is large enough, copied by all
// threads: activations are megabytes, and a serial copy idles the others.
template <class T>
void copy_into(Tensor<T>& dst, const Tensor<T>& src) {
  dst.shape = src.shape;
  dst.data.resize(src.data.size());
  const std::int64_t n = src.numel();
  T* d = dst.ptr();
  const T* s = src.ptr();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (std::int64_t i = 0; i < n; ++i) d[i] = s[i];
}

// Throws std::invalid_argument "<layer>: <what> has shape [..], expected [..]"
// unless `actual` matches `expected`, where a negative expected entry matches any size.
inline void check_shape(const std::string& layer, const char* what, const Shape& actual, const Shape& expected) {
  bool ok = actual.size() == expected.size();
  for (std::size_t i = 0; ok && i < actual.size(); ++i) ok = expected[i] < 0 || expected[i] == actual[i];
  if (!ok)
    throw std::invalid_argument(layer + ": " + what + " has shape " + shape_str(actual) + ", expected " +
                                shape_str(expected));
}

}  // namespace lpsim::nn

// zoo/core/tensor.hpp — the one activation type: a dense, 64-byte aligned,
// row-major buffer with a run-time shape of rank 1..4 ((N, F) or (N, C, H, W)).
//
// Models own their tensors and size them once per batch size: resize() never
// reallocates when the new size fits in the capacity, so a steady-state training
// step allocates nothing. `xt()` adapts the buffer as an xtensor expression
// (no ownership, no copy) for users who want fused element-wise expressions.
#pragma once
#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"

namespace zoo {

template <class T, std::size_t Align = kAlign>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{Align}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{Align}); }
  template <class U>
  bool operator==(const AlignedAllocator<U, Align>&) const noexcept {
    return true;
  }
};

// A growable aligned buffer; shrinking keeps capacity.
template <class T>
using Buffer = std::vector<T, AlignedAllocator<T>>;

template <class T>
class Tensor {
 public:
  static constexpr std::size_t max_rank = 4;

  Tensor() = default;
  explicit Tensor(std::initializer_list<std::size_t> shape) { resize(shape); }
  explicit Tensor(std::span<const std::size_t> shape) { resize(shape); }

  void resize(std::initializer_list<std::size_t> shape) {
    resize(std::span<const std::size_t>(shape.begin(), shape.size()));
  }
  void resize(std::span<const std::size_t> shape) {
    if (shape.empty() || shape.size() > max_rank)
      throw std::invalid_argument("zoo::Tensor: rank must be 1..4, got " +
                                  std::to_string(shape.size()));
    rank_ = shape.size();
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) {
      shape_[i] = shape[i];
      n *= shape[i];
    }
    for (std::size_t i = rank_; i < max_rank; ++i) shape_[i] = 1;
    data_.resize(n);
  }
  // Resize to (n, dims...) of a per-sample Shape.
  template <class S>
  void resize_batch(std::size_t n) {
    std::array<std::size_t, S::rank + 1> s{};
    s[0] = n;
    for (std::size_t i = 0; i < S::rank; ++i) s[i + 1] = S::dims[i];
    resize(std::span<const std::size_t>(s));
  }

  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::size_t size() const noexcept { return data_.size(); }
  std::size_t rank() const noexcept { return rank_; }
  std::size_t dim(std::size_t i) const noexcept { return i < rank_ ? shape_[i] : 1; }
  std::span<const std::size_t> shape() const noexcept { return {shape_.data(), rank_}; }
  std::size_t batch() const noexcept { return rank_ ? shape_[0] : 0; }
  std::size_t sample_size() const noexcept { return batch() ? size() / batch() : 0; }

  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size(); }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size(); }

  void fill(T v) { std::fill(data_.begin(), data_.end(), v); }
  // Sample i as a pointer to its sample_size() values.
  T* sample(std::size_t i) noexcept { return data() + i * sample_size(); }
  const T* sample(std::size_t i) const noexcept { return data() + i * sample_size(); }

  std::string shape_str() const {
    std::string s = "(";
    for (std::size_t i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
    return s + ")";
  }

 private:
  Buffer<T> data_;
  std::array<std::size_t, max_rank> shape_{1, 1, 1, 1};
  std::size_t rank_ = 0;
};

}  // namespace zoo

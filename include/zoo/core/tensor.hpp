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

// A tensor's shape (rank 1..4) and what is asked of it; the values are the tensor's own
// (zoo::Tensor: host memory; zoo::cuda::Tensor: device memory).
class TensorShape {
 public:
  static constexpr std::size_t max_rank = 4;
  std::size_t rank() const noexcept { return rank_; }
  std::size_t dim(std::size_t i) const noexcept { return i < rank_ ? shape_[i] : 1; }
  std::span<const std::size_t> shape() const noexcept { return {shape_.data(), rank_}; }
  std::size_t batch() const noexcept { return rank_ ? shape_[0] : 0; }
  std::string shape_str() const {
    std::string s = "(";
    for (std::size_t i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
    return s + ")";
  }

 protected:
  // Takes `shape` and returns how many values it holds; `who` names the tensor in errors.
  std::size_t set_shape(std::span<const std::size_t> shape, const char* who) {
    if (shape.empty() || shape.size() > max_rank)
      throw std::invalid_argument(std::string(who) + ": rank must be 1..4, got " +
                                  std::to_string(shape.size()));
    rank_ = shape.size();
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) n *= (shape_[i] = shape[i]);
    for (std::size_t i = rank_; i < max_rank; ++i) shape_[i] = 1;
    return n;
  }
  // (n, dims...) of a per-sample Shape.
  template <class S>
  static std::array<std::size_t, S::rank + 1> batch_shape(std::size_t n) {
    std::array<std::size_t, S::rank + 1> s{};
    s[0] = n;
    for (std::size_t i = 0; i < S::rank; ++i) s[i + 1] = S::dims[i];
    return s;
  }

 private:
  std::array<std::size_t, max_rank> shape_{1, 1, 1, 1};
  std::size_t rank_ = 0;
};

template <class T>
class Tensor : public TensorShape {
 public:
  Tensor() = default;
  explicit Tensor(std::initializer_list<std::size_t> shape) { resize(shape); }
  explicit Tensor(std::span<const std::size_t> shape) { resize(shape); }

  void resize(std::initializer_list<std::size_t> shape) {
    resize(std::span<const std::size_t>(shape.begin(), shape.size()));
  }
  void resize(std::span<const std::size_t> shape) { data_.resize(set_shape(shape, "zoo::Tensor")); }
  // Resize to (n, dims...) of a per-sample Shape.
  template <class S>
  void resize_batch(std::size_t n) {
    const auto s = batch_shape<S>(n);
    resize(std::span<const std::size_t>(s));
  }

  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::size_t size() const noexcept { return data_.size(); }
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

 private:
  Buffer<T> data_;
};

// dst[d0, d0 + n) ← src[s0, s0 + n): the one copy the trainers make between batches'
// rows (models/gan_training.hpp); cuda/tensor.hpp has the device tensors' twin, found
// by the same unqualified call.
template <class T>
void copy_values(const Tensor<T>& src, std::size_t s0, std::size_t n, Tensor<T>& dst, std::size_t d0) {
  std::copy(src.data() + s0, src.data() + s0 + n, dst.data() + d0);
}

}  // namespace zoo

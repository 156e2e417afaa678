// zoo/cuda/tensor.hpp — a tensor in device memory: a shape (rank 1..4, as zoo::Tensor's)
// and a DeviceBuffer. Data moves between host and device only through the explicit
// copies below; nothing is managed or mapped.
#pragma once
#include <array>
#include <span>
#include <stdexcept>
#include <string>

#include "../core/tensor.hpp"
#include "runtime.hpp"

namespace zoo::cuda {

template <class T>
class Tensor {
 public:
  static constexpr std::size_t max_rank = zoo::Tensor<T>::max_rank;

  Tensor() = default;
  explicit Tensor(std::initializer_list<std::size_t> shape) { resize(shape); }
  explicit Tensor(std::span<const std::size_t> shape) { resize(shape); }
  // A device copy of a host tensor.
  explicit Tensor(const zoo::Tensor<T>& host) { upload(host); }

  void resize(std::initializer_list<std::size_t> shape) {
    resize(std::span<const std::size_t>(shape.begin(), shape.size()));
  }
  void resize(std::span<const std::size_t> shape) {
    if (shape.empty() || shape.size() > max_rank)
      throw std::invalid_argument("zoo::cuda::Tensor: rank must be 1..4, got " +
                                  std::to_string(shape.size()));
    rank_ = shape.size();
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) n *= (shape_[i] = shape[i]);
    for (std::size_t i = rank_; i < max_rank; ++i) shape_[i] = 1;
    data_.resize(n);
  }
  template <class S>
  void resize_batch(std::size_t n) {
    std::array<std::size_t, S::rank + 1> s{};
    s[0] = n;
    for (std::size_t i = 0; i < S::rank; ++i) s[i + 1] = S::dims[i];
    resize(std::span<const std::size_t>(s));
  }

  // Host → device: takes the host tensor's shape and values.
  void upload(const zoo::Tensor<T>& host) {
    resize(host.shape());
    copy_to_device(host.data(), host.size(), data());
  }
  // Device → host, into `host` (resized to this shape).
  void download(zoo::Tensor<T>& host) const {
    host.resize(shape());
    copy_to_host(data(), size(), host.data());
  }
  zoo::Tensor<T> to_host() const {
    zoo::Tensor<T> h;
    download(h);
    return h;
  }

  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::size_t size() const noexcept { return data_.size(); }
  std::size_t rank() const noexcept { return rank_; }
  std::size_t dim(std::size_t i) const noexcept { return i < rank_ ? shape_[i] : 1; }
  std::span<const std::size_t> shape() const noexcept { return {shape_.data(), rank_}; }
  std::size_t batch() const noexcept { return rank_ ? shape_[0] : 0; }
  std::size_t sample_size() const noexcept { return batch() ? size() / batch() : 0; }
  std::string shape_str() const {
    std::string s = "(";
    for (std::size_t i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
    return s + ")";
  }

 private:
  DeviceBuffer<T> data_;
  std::array<std::size_t, max_rank> shape_{1, 1, 1, 1};
  std::size_t rank_ = 0;
};

}  // namespace zoo::cuda

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
class Tensor : public zoo::TensorShape {
 public:
  Tensor() = default;
  explicit Tensor(std::initializer_list<std::size_t> shape) { resize(shape); }
  explicit Tensor(std::span<const std::size_t> shape) { resize(shape); }
  // A device copy of a host tensor.
  explicit Tensor(const zoo::Tensor<T>& host) { upload(host); }

  void resize(std::initializer_list<std::size_t> shape) {
    resize(std::span<const std::size_t>(shape.begin(), shape.size()));
  }
  void resize(std::span<const std::size_t> shape) {
    data_.resize(set_shape(shape, "zoo::cuda::Tensor"));
  }
  template <class S>
  void resize_batch(std::size_t n) {
    const auto s = batch_shape<S>(n);
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
  std::size_t sample_size() const noexcept { return batch() ? size() / batch() : 0; }

 private:
  DeviceBuffer<T> data_;
};

// dst[d0, d0 + n) ← src[s0, s0 + n) on the device (zoo::copy_values' twin).
template <class T>
void copy_values(const Tensor<T>& src, std::size_t s0, std::size_t n, Tensor<T>& dst, std::size_t d0) {
  if (n == 0) return;
  thrust::copy(thrust::device, src.data() + s0, src.data() + s0 + n, dst.data() + d0);
}

}  // namespace zoo::cuda

// zoo/cuda/optim.hpp — SGD and Adam over a device model's flat parameters: one fused
// kernel a step (each index reads its parameter, gradient and state once and writes them
// once), with zoo/optim/optimizers.hpp's update rules, options and step counting.
#pragma once
#include <thrust/count.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <vector>

#include "../optim/optimizers.hpp"
#include "layers.hpp"
#include "scratch.hpp"

namespace zoo::cuda {

namespace detail {
template <class T>
ZOO_HD inline T sqrt_hd(T v) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(v);
#else
  return std::sqrt(v);
#endif
}
template <class T>
struct AdamStep {
  T* p;
  const T* dp;
  T* m;
  T* v;
  T wd, B1, C1, B2, C2, step_size, inv_sqrt_bc2, eps;
  ZOO_HD void operator()(index_t i) const {
    const T pv = p[i];
    const T g = dp[i] + wd * pv;
    const T mv = B1 * m[i] + C1 * g;
    const T vv = B2 * v[i] + C2 * g * g;
    m[i] = mv;
    v[i] = vv;
    p[i] = pv - step_size * mv / (sqrt_hd(vv) * inv_sqrt_bc2 + eps);
  }
};
template <class T>
struct SgdStep {
  T* p;
  const T* dp;
  T* b;
  T wd, mu, damp, lr;
  bool first, nesterov;
  ZOO_HD void operator()(index_t i) const {
    T g = dp[i] + wd * p[i];
    if (mu != T(0)) {
      b[i] = first ? g : mu * b[i] + damp * g;
      g = nesterov ? g + mu * b[i] : b[i];
    }
    p[i] -= lr * g;
  }
};
template <class T>
struct NotFinite {  // inf or NaN: v − v is NaN exactly then
  ZOO_HD bool operator()(T v) const { return !(v - v == T(0)); }
};
// Whether every value of a buffer is finite (one device count).
template <class T>
bool finite(const DeviceBuffer<T>& b) {
  return b.size() == 0 || thrust::count_if(reduce_policy(), b.data(), b.data() + b.size(), NotFinite<T>{}) == 0;
}
// The same for each buffer of an optimizer's state.
template <class T>
bool all_finite(const std::vector<DeviceBuffer<T>>& bufs) {
  for (const auto& b : bufs)
    if (!finite(b)) return false;
  return true;
}
}  // namespace detail

template <class T>
class Adam {
 public:
  Adam(ParamSpan<T> p, AdamOptions o = {}) : Adam({p}, o) {}
  Adam(std::initializer_list<ParamSpan<T>> ps, AdamOptions o = {}) : opt(o), lr(o.lr), spans_(ps) {
    for (auto& s : spans_) {
      m_.emplace_back(s.size);
      v_.emplace_back(s.size);
      cuda::fill(m_.back().data(), s.size, T(0));
      cuda::fill(v_.back().data(), s.size, T(0));
    }
  }
  void step() {
    ++steps_;
    const AdamCoefficients<T> c(opt, lr, steps_);
    for (std::size_t k = 0; k < spans_.size(); ++k)
      launch(static_cast<index_t>(spans_[k].size),
             detail::AdamStep<T>{spans_[k].data, spans_[k].grad, m_[k].data(), v_[k].data(), c.wd,
                                 c.b1, c.c1, c.b2, c.c2, c.step_size, c.inv_sqrt_bc2, c.eps});
  }
  AdamOptions opt;
  double lr;
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  std::vector<DeviceBuffer<T>>& exp_avg() { return m_; }
  std::vector<DeviceBuffer<T>>& exp_avg_sq() { return v_; }
  // Whether m and v hold no inf or NaN (a run's guard before it writes a checkpoint).
  bool finite() const { return detail::all_finite(m_) && detail::all_finite(v_); }

 private:
  std::vector<ParamSpan<T>> spans_;
  std::vector<DeviceBuffer<T>> m_, v_;
  std::int64_t steps_ = 0;
};

template <class T>
class SGD {
 public:
  SGD(ParamSpan<T> p, SGDOptions o = {}) : SGD({p}, o) {}
  SGD(std::initializer_list<ParamSpan<T>> ps, SGDOptions o = {}) : opt(o), lr(o.lr), spans_(ps) {
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      throw std::invalid_argument(
          "zoo::cuda::SGD: Nesterov momentum requires a momentum and zero dampening");
    for (auto& s : spans_) {
      momentum_.emplace_back(s.size);
      cuda::fill(momentum_.back().data(), s.size, T(0));
    }
  }
  void step() {
    for (std::size_t k = 0; k < spans_.size(); ++k)
      launch(static_cast<index_t>(spans_[k].size),
             detail::SgdStep<T>{spans_[k].data, spans_[k].grad, momentum_[k].data(),
                                static_cast<T>(opt.weight_decay), static_cast<T>(opt.momentum),
                                static_cast<T>(1 - opt.dampening), static_cast<T>(lr),
                                steps_ == 0, opt.nesterov});
    ++steps_;
  }
  SGDOptions opt;
  double lr;
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  std::vector<DeviceBuffer<T>>& state() { return momentum_; }
  bool finite() const { return detail::all_finite(momentum_); }

 private:
  std::vector<ParamSpan<T>> spans_;
  std::vector<DeviceBuffer<T>> momentum_;
  std::int64_t steps_ = 0;
};

template <class T>
Adam(ParamSpan<T>, AdamOptions) -> Adam<T>;
template <class T>
SGD(ParamSpan<T>, SGDOptions) -> SGD<T>;

template <class T, class Spec, class... Ins>
class BasicModel;

}  // namespace zoo::cuda

namespace zoo {
template <class T, class Spec, class... Ins>
struct adam_for<cuda::BasicModel<T, Spec, Ins...>> {
  using type = cuda::Adam<T>;
};
}  // namespace zoo

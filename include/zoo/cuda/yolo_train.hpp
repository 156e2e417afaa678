// zoo/cuda/yolo_train.hpp — YOLOv5's training recipe (models/yolo/train.hpp) for a device
// model: the same type names through two traits, so the trainer is written once.
//
//   yolo::group_sgd_for_t<M> opt(m, hyp);   // yolo::GroupSGD or cuda::GroupSGD
//   yolo::ModelEMA<M> ema(ema_m);            // host loops or one device lerp
//
// cuda::GroupSGD is one fused kernel over the flat parameters: each value's group (bias,
// convolution weight, BatchNorm weight) is a byte looked up beside it, so three learning
// rates cost no more launches than one. Clipping reduces ‖g‖² in double on the device. The
// EMA averages parameters and running statistics in two launches and copies the BatchNorm
// counters, as the host's loop over the state_dict does. Checkpoints go through the host
// (cuda/checkpoint.hpp): host_optimizer() makes the yolo::GroupSGD that writes them.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../models/yolo/train.hpp"
#include "losses.hpp"
#include "model.hpp"
#include "optim.hpp"

namespace zoo::cuda {

namespace fn {
template <class T>
struct GroupSgdStep {  // yolo::GroupSGD::step's update, one index
  T* p;
  const T* dp;
  T* b;
  const std::uint8_t* group;
  T lr0, lr1, lr2, wd, mu;
  bool first;
  ZOO_HD void operator()(index_t i) const {
    const std::uint8_t k = group[i];
    const T a = k == 0 ? lr0 : (k == 1 ? lr1 : lr2);
    const T g = dp[i] + (k == 1 ? wd : T(0)) * p[i];
    const T bi = first ? g : mu * b[i] + g;
    b[i] = bi;
    p[i] -= a * (g + mu * bi);
  }
};
template <class T>
struct SquareD {
  const T* g;
  ZOO_HD double operator()(index_t i) const {
    const double v = static_cast<double>(g[i]);
    return v * v;
  }
};
template <class T>
struct ScaleBy {
  T* g;
  T c;
  ZOO_HD void operator()(index_t i) const { g[i] *= c; }
};
// ema = a·ema + b·model where mode is 1; a copy where it is 2 (counters); kept where 0.
// A null mode averages every value (the parameters).
template <class T>
struct EmaLerp {
  T* dst;
  const T* src;
  const std::uint8_t* mode;
  T a, b;
  ZOO_HD void operator()(index_t i) const {
    const std::uint8_t k = mode ? mode[i] : std::uint8_t(1);
    if (k == 1) dst[i] = a * dst[i] + b * src[i];
    else if (k == 2) dst[i] = src[i];
  }
};
template <class T>
struct CopyWhere {  // dst ← src where mode ≠ 0
  T* dst;
  const T* src;
  const std::uint8_t* mode;
  ZOO_HD void operator()(index_t i) const {
    if (mode[i]) dst[i] = src[i];
  }
};
}  // namespace fn

namespace detail {
// Where a host tensor lies in a flat buffer [base, base + n), or n when outside it.
template <class T>
std::size_t offset_in(const T* p, const T* base, std::size_t n) {
  const std::less<const T*> lt;
  if (lt(p, base) || !lt(p, base + n)) return n;
  return static_cast<std::size_t>(p - base);
}
}  // namespace detail

// yolo::GroupSGD (torch.optim.SGD, Nesterov, three parameter groups) over a device model's
// parameters. The public fields are the host optimizer's: yolo::Schedule::apply sets them.
template <class T>
class GroupSGD {
 public:
  template <class Spec, class... Ins>
  GroupSGD(BasicModel<T, Spec, Ins...>& m, const yolo::Hyp& h)
      : hyp(h), lr(h.lr0), momentum(h.momentum), params_(m.parameters()) {
    auto& host = m.host();
    const T* base = host.parameters().data;
    const std::size_t n = params_.size;
    std::vector<std::uint8_t> g(n, 0xff);
    for (const auto& t : host.named_parameters()) {
      const std::size_t off = detail::offset_in<T>(t.data, base, n);
      if (off == n || off + t.size > n)
        throw std::logic_error("zoo::cuda::GroupSGD: parameter '" + t.name + "' lies outside the model's buffer");
      const int grp = yolo::param_group(t.name, t.shape.size());
      std::fill(g.begin() + std::ptrdiff_t(off), g.begin() + std::ptrdiff_t(off + t.size), std::uint8_t(grp));
      tensors_.push_back({off, t.size});
      count_[std::size_t(grp)] += t.size;
    }
    if (std::find(g.begin(), g.end(), std::uint8_t(0xff)) != g.end())
      throw std::logic_error("zoo::cuda::GroupSGD: some parameters belong to no named tensor");
    group_.resize(n);
    momentum_.resize(n);
    copy_to_device(g.data(), n, group_.data());
    cuda::fill(momentum_.data(), n, T(0));
  }

  void step() {
    launch(static_cast<index_t>(params_.size),
           fn::GroupSgdStep<T>{params_.data, params_.grad, momentum_.data(), group_.data(), T(group_lr[0]),
                               T(group_lr[1]), T(group_lr[2]), T(weight_decay), T(momentum), steps_ == 0});
    ++steps_;
  }
  // clip_grad_norm_(params, max_norm): ‖g‖ summed in double on the device; the gradient is
  // scaled by max_norm / (‖g‖ + 1e-6) when that is below 1. Returns ‖g‖.
  double clip_grad_norm(double max_norm) {
    const double norm = std::sqrt(detail::sum(static_cast<index_t>(params_.size), fn::SquareD<T>{params_.grad}));
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1) launch(static_cast<index_t>(params_.size), fn::ScaleBy<T>{params_.grad, T(coef)});
    return norm;
  }
  std::size_t group_size(int g) const { return count_[std::size_t(g)]; }

  yolo::Hyp hyp;
  double lr;
  double momentum;
  double weight_decay = 0;
  std::array<double, 3> group_lr{};
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  // The momentum of every parameter, flat in the model's order (not per tensor as the host's
  // state(), so guard and checkpoint code reach it through finite() and host_optimizer()).
  DeviceBuffer<T>& momentum_buffer() { return momentum_; }
  bool finite() const { return detail::finite(momentum_); }
  struct Span {
    std::size_t offset, size;
  };
  // Each named parameter's place in the flat buffer, in named_parameters() order: the host
  // optimizer's state() order.
  const std::vector<Span>& tensors() const { return tensors_; }

 private:
  ParamSpan<T> params_;
  DeviceBuffer<std::uint8_t> group_;
  DeviceBuffer<T> momentum_;
  std::vector<Span> tensors_;
  std::array<std::size_t, 3> count_{};
  std::int64_t steps_ = 0;
};

// The host optimizer a checkpoint writes: yolo::GroupSGD over the mirror `host`, with d's
// learning rate, step count and momentum.
template <class T, class HM>
yolo::GroupSGD<T> host_optimizer(GroupSGD<T>& d, HM& host) {
  yolo::GroupSGD<T> h(host, d.hyp);
  h.lr = d.lr;
  h.momentum = d.momentum;
  h.weight_decay = d.weight_decay;
  h.group_lr = d.group_lr;
  h.set_steps(d.steps());
  auto& st = h.state();
  if (st.size() != d.tensors().size())
    throw std::logic_error("zoo::cuda::GroupSGD: the host optimizer has another number of tensors");
  std::vector<T> flat(d.momentum_buffer().size());
  copy_to_host(d.momentum_buffer().data(), flat.size(), flat.data());
  for (std::size_t k = 0; k < st.size(); ++k) {
    const auto [off, n] = d.tensors()[k];
    if (st[k].size() != n) throw std::logic_error("zoo::cuda::GroupSGD: a momentum tensor's size differs");
    std::copy(flat.begin() + std::ptrdiff_t(off), flat.begin() + std::ptrdiff_t(off + n), st[k].data());
  }
  return h;
}
// A loaded host optimizer's learning rate, step count and momentum into d.
template <class T>
void to_device_optimizer(yolo::GroupSGD<T>& h, GroupSGD<T>& d) {
  auto& st = h.state();
  if (st.size() != d.tensors().size())
    throw std::logic_error("zoo::cuda::GroupSGD: the host optimizer has another number of tensors");
  std::vector<T> flat(d.momentum_buffer().size());
  for (std::size_t k = 0; k < st.size(); ++k) {
    const auto [off, n] = d.tensors()[k];
    if (st[k].size() != n) throw std::logic_error("zoo::cuda::GroupSGD: a momentum tensor's size differs");
    std::copy(st[k].data(), st[k].data() + n, flat.begin() + std::ptrdiff_t(off));
  }
  copy_to_device(flat.data(), flat.size(), d.momentum_buffer().data());
  d.lr = h.lr;
  d.set_steps(h.steps());
}

}  // namespace zoo::cuda

namespace zoo::yolo {

template <class T, class Spec, class... Ins>
struct group_sgd_for<cuda::BasicModel<T, Spec, Ins...>> {
  using type = cuda::GroupSGD<T>;
};

// ModelEMA of a device model: ema = d·ema + (1 − d)·model over every floating-point entry of
// the state_dict, num_batches_tracked copied — the host class's rule, as two launches.
template <class T, class Spec, class... Ins>
class ModelEMA<cuda::BasicModel<T, Spec, Ins...>> {
  using M = cuda::BasicModel<T, Spec, Ins...>;

 public:
  ModelEMA(M& ema, double decay = 0.9999, double tau = 2000) : ema_(ema), decay_(decay), tau_(tau) {
    // Each buffer value's part in the average, from the mirror's names: 1 averaged, 2 copied
    // (a counter), 0 not in the state_dict (left alone, as the host's loop leaves it).
    auto& h = ema.host();
    const std::size_t nb = M::num_buffers;
    std::vector<std::uint8_t> mode(nb, 0);
    for (const auto& t : h.named_buffers()) {
      const std::size_t off = cuda::detail::offset_in<T>(t.data, h.buffer_data(), nb);
      if (off == nb || off + t.size > nb)
        throw std::logic_error("zoo::yolo::ModelEMA: buffer '" + t.name + "' lies outside the model's buffers");
      std::fill(mode.begin() + std::ptrdiff_t(off), mode.begin() + std::ptrdiff_t(off + t.size),
                std::uint8_t(t.name.ends_with("num_batches_tracked") ? 2 : 1));
    }
    if (nb) {
      mode_.resize(nb);
      cuda::copy_to_device(mode.data(), nb, mode_.data());
    }
    // Every parameter value is in the state_dict, as the host's loop over it assumes.
    std::size_t named = 0;
    for (const auto& t : h.named_parameters()) named += t.size;
    if (named != M::num_params)
      throw std::logic_error("zoo::yolo::ModelEMA: the named parameters hold " + std::to_string(named) +
                             " of the model's " + std::to_string(M::num_params) + " values");
  }
  void update(M& model, std::int64_t updates_done) {
    updates = updates_done;
    const double d = decay_ * (1.0 - std::exp(-double(updates) / tau_));
    const T a = T(d), b = T(1.0 - d);
    cuda::launch(static_cast<index_t>(M::num_params),
                 cuda::fn::EmaLerp<T>{ema_.parameters().data, model.parameters().data, nullptr, a, b});
    if (M::num_buffers)
      cuda::launch(static_cast<index_t>(M::num_buffers),
                   cuda::fn::EmaLerp<T>{ema_.buffer_data(), model.buffer_data(), mode_.data(), a, b});
  }
  // The EMA starts as a copy of the model (deepcopy in YOLOv5).
  void reset(M& model) {
    cuda::copy(model.parameters().data, M::num_params, ema_.parameters().data);
    if (M::num_buffers)
      cuda::launch(static_cast<index_t>(M::num_buffers),
                   cuda::fn::CopyWhere<T>{ema_.buffer_data(), model.buffer_data(), mode_.data()});
  }
  std::int64_t updates = 0;

 private:
  M& ema_;
  double decay_, tau_;
  cuda::DeviceBuffer<std::uint8_t> mode_;
};

}  // namespace zoo::yolo

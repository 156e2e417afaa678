// zoo/models/yolo/train.hpp — YOLOv5's training recipe (v7.0 train.py, utils/torch_utils.py)
// around any zoo model: SGD with three parameter groups, warm-up, linear decay, gradient
// accumulation to a nominal batch of 64, and an exponential moving average of the weights.
//
//   groups (smart_optimizer): 0 biases (no decay), 1 weights of convolutions (decay),
//                             2 BatchNorm weights (no decay)
//   lf(e) = (1 − e/E)·(1 − lrf) + lrf                       lr of epoch e = lr0·lf(e)
//   warm-up over nw = max(round(3·nb), 100) iterations: biases' lr 0.1 → lr0·lf(e), the
//   others 0 → lr0·lf(e), momentum 0.8 → 0.937, accumulation 1 → 64/bs (interp, rounded)
//   weight decay 5e-4 · bs·accumulate/64
//   before each step the gradient's norm is clipped at 10 (clip_grad_norm_, v7.0's train.py)
//   EMA: d = 0.9999·(1 − exp(−updates/2000)),  ema = d·ema + (1 − d)·model  (every
//        floating-point entry of the state_dict: parameters and running statistics)
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../core/param.hpp"
#include "../../core/tensor.hpp"

namespace zoo::yolo {

struct Hyp {  // data/hyps/hyp.scratch-low.yaml's optimizer part
  double lr0 = 0.01, lrf = 0.01, momentum = 0.937, weight_decay = 5e-4;
  double warmup_epochs = 3.0, warmup_momentum = 0.8, warmup_bias_lr = 0.1;
  std::size_t nbs = 64;  // nominal batch size
};

// Which group a parameter joins, from its state_dict name and rank: biases, BatchNorm weights
// (rank 1), everything else (convolution weights, rank 4).
inline int param_group(const std::string& name, std::size_t rank) {
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) return 0;
  return rank == 1 ? 2 : 1;
}

// torch.optim.SGD(nesterov=True) over three groups with their own lr and weight decay, one
// momentum. state() lists one momentum buffer per tensor, so zoo's checkpoints save and
// restore it as they do SGD's.
template <class T>
class GroupSGD {
 public:
  template <class Model>
  explicit GroupSGD(Model& m, const Hyp& h) : hyp(h), lr(h.lr0), momentum(h.momentum) {
    for (auto& t : m.named_parameters()) {
      tensors_.push_back({t.data, t.grad, t.size, param_group(t.name, t.shape.size())});
      buffers_.emplace_back(t.size, T(0));
      count_[std::size_t(tensors_.back().group)] += t.size;
      start_.push_back(total_), total_ += t.size;
    }
  }
  // One step; weight_decay is the decay of group 1 (already scaled by the caller).
  // The tensors are one index range [0, Σ sizes), split over the threads as a whole:
  // yolov5n's 1.8 M parameters took a millisecond of one thread a step.
  void step() {
    const T mu = T(momentum);
    const bool first = steps_ == 0;
    parallel_for(total_, 4, [&](std::size_t lo, std::size_t hi) {
      std::size_t k = std::size_t(std::upper_bound(start_.begin(), start_.end(), lo) - start_.begin()) - 1;
      for (; k < tensors_.size() && start_[k] < hi; ++k) {
        const Tensor_& t = tensors_[k];
        const T a = T(group_lr[std::size_t(t.group)]);
        const T wd = t.group == 1 ? T(weight_decay) : T(0);
        T* b = buffers_[k].data();
        const std::size_t i0 = std::max(lo, start_[k]) - start_[k];
        const std::size_t i1 = std::min(hi, start_[k] + t.size) - start_[k];
        for (std::size_t i = i0; i < i1; ++i) {
          const T g = t.grad[i] + wd * t.data[i];
          b[i] = first ? g : mu * b[i] + g;
          t.data[i] -= a * (g + mu * b[i]);
        }
      }
    });
    ++steps_;
  }
  std::size_t group_size(int g) const { return count_[std::size_t(g)]; }
  // torch.nn.utils.clip_grad_norm_(params, max_norm), as train.py calls before each step:
  // scales every gradient by max_norm / (‖g‖ + 1e-6) when that is below 1; returns ‖g‖.
  double clip_grad_norm(double max_norm) {
    double sq = 0;
    for (const Tensor_& t : tensors_)
      for (std::size_t i = 0; i < t.size; ++i) sq += double(t.grad[i]) * double(t.grad[i]);
    const double norm = std::sqrt(sq);
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1)
      for (const Tensor_& t : tensors_)
        for (std::size_t i = 0; i < t.size; ++i) t.grad[i] *= T(coef);
    return norm;
  }

  Hyp hyp;
  double lr;  // lr0·lf(epoch), saved in checkpoints
  double momentum;
  double weight_decay = 0;
  std::array<double, 3> group_lr{};
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  std::vector<Buffer<T>>& state() { return buffers_; }

 private:
  struct Tensor_ {
    T* data;
    T* grad;
    std::size_t size;
    int group;
  };
  std::vector<Tensor_> tensors_;
  std::vector<Buffer<T>> buffers_;
  std::vector<std::size_t> start_;  // tensor k's first index in the step's one range
  std::size_t total_ = 0;
  std::array<std::size_t, 3> count_{};
  std::int64_t steps_ = 0;
};

// The optimizer type for a model type: GroupSGD here, cuda::GroupSGD for a device model
// (cuda/yolo_train.hpp), so a trainer names it once.
template <class M>
struct group_sgd_for {
  using type = GroupSGD<typename M::scalar>;
};
template <class M>
using group_sgd_for_t = typename group_sgd_for<M>::type;

// np.interp on two points.
inline double interp2(double x, double x0, double x1, double y0, double y1) {
  if (x <= x0) return y0;
  if (x >= x1) return y1;
  return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

// The schedule of train.py: sets lr, momentum, weight decay and the accumulation for
// iteration ni (counted from the start of training) of epoch e (0-based).
struct Schedule {
  Hyp hyp;
  std::size_t epochs = 1, batches_per_epoch = 1, batch_size = 16;
  std::size_t warmup_iters() const {
    return std::max<std::size_t>(
        std::size_t(std::llround(hyp.warmup_epochs * double(batches_per_epoch))), 100);
  }
  double lf(std::size_t e) const {
    return (1.0 - double(e) / double(epochs)) * (1.0 - hyp.lrf) + hyp.lrf;
  }
  std::size_t accumulate_full() const {
    return std::max<std::size_t>(std::size_t(std::llround(double(hyp.nbs) / double(batch_size))), 1);
  }
  // Returns the accumulation (optimizer step every `accumulate` batches).
  template <class Opt>
  std::size_t apply(Opt& opt, std::size_t ni, std::size_t e) const {
    const double base = hyp.lr0 * lf(e);
    opt.lr = base;
    std::size_t acc = accumulate_full();
    const std::size_t nw = warmup_iters();
    if (ni <= nw) {
      const double x = double(ni);
      acc = std::max<std::size_t>(
          1, std::size_t(std::nearbyint(interp2(x, 0, double(nw), 1, double(hyp.nbs) / double(batch_size)))));
      opt.group_lr[0] = interp2(x, 0, double(nw), hyp.warmup_bias_lr, base);
      opt.group_lr[1] = opt.group_lr[2] = interp2(x, 0, double(nw), 0.0, base);
      opt.momentum = interp2(x, 0, double(nw), hyp.warmup_momentum, hyp.momentum);
    } else {
      opt.group_lr = {base, base, base};
      opt.momentum = hyp.momentum;
    }
    opt.weight_decay = hyp.weight_decay * double(batch_size * accumulate_full()) / double(hyp.nbs);
    return acc;
  }
};

// ModelEMA: a second model of the same type whose state follows the trained one.
template <class M>
class ModelEMA {
 public:
  ModelEMA(M& ema, double decay = 0.9999, double tau = 2000) : ema_(ema), decay_(decay), tau_(tau) {}
  void update(M& model, std::int64_t updates_done) {
    updates = updates_done;
    const double d = decay_ * (1.0 - std::exp(-double(updates) / tau_));
    auto src = model.state_dict();
    auto dst = ema_.state_dict();
    if (src.size() != dst.size()) throw std::logic_error("zoo::yolo::ModelEMA: models differ");
    for (std::size_t k = 0; k < src.size(); ++k) {
      if (src[k].name.ends_with("num_batches_tracked")) {
        *dst[k].data = *src[k].data;
        continue;
      }
      using T = std::remove_cvref_t<decltype(*src[k].data)>;
      const T a = T(d), b = T(1.0 - d);
      for (std::size_t i = 0; i < src[k].size; ++i) dst[k].data[i] = a * dst[k].data[i] + b * src[k].data[i];
    }
  }
  // The EMA starts as a copy of the model (deepcopy in YOLOv5).
  void reset(M& model) {
    auto src = model.state_dict();
    auto dst = ema_.state_dict();
    for (std::size_t k = 0; k < src.size(); ++k)
      std::copy(src[k].data, src[k].data + src[k].size, dst[k].data);
  }
  std::int64_t updates = 0;

 private:
  M& ema_;
  double decay_, tau_;
};

}  // namespace zoo::yolo

// zoo/optim/optimizers.hpp — SGD and Adam with PyTorch's update rules.
//
// SGD (torch.optim.SGD):           g ← ∇ + λθ;  b ← μb + (1−τ)g (b₁ = g);  g ← nesterov ? g + μb : b;
//                                  θ ← θ − lr·g
// Adam (torch.optim.Adam, L2 form): g ← ∇ + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
//                                  θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
// Both run over ParamSpans (a model's flat parameters), so a step is one loop.
// `lr` is a public member: schedules set it before each step.
#pragma once
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <vector>

#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics

#include "../core/param.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace zoo {

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

template <class T>
class SGD {
 public:
  SGD(ParamSpan<T> p, SGDOptions o = {}) : SGD({p}, o) {}
  SGD(std::initializer_list<ParamSpan<T>> ps, SGDOptions o = {}) : opt(o), lr(o.lr), spans_(ps) {
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      throw std::invalid_argument("zoo::SGD: Nesterov momentum requires a momentum and zero dampening");
    for (auto& s : spans_) momentum_.emplace_back(s.size, T(0));
  }

  void step() {
    const T wd = static_cast<T>(opt.weight_decay), mu = static_cast<T>(opt.momentum),
            damp = static_cast<T>(1 - opt.dampening), a = static_cast<T>(lr);
    const bool first = steps_ == 0;
    for (std::size_t k = 0; k < spans_.size(); ++k) {
      T* p = spans_[k].data;
      const T* dp = spans_[k].grad;
      T* b = momentum_[k].data();
      for (std::size_t i = 0; i < spans_[k].size; ++i) {
        T g = dp[i] + wd * p[i];
        if (mu != T(0)) {
          b[i] = first ? g : mu * b[i] + damp * g;
          g = opt.nesterov ? g + mu * b[i] : b[i];
        }
        p[i] -= a * g;
      }
    }
    ++steps_;
  }

  SGDOptions opt;
  double lr;
  std::int64_t steps() const { return steps_; }
  std::vector<Buffer<T>>& state() { return momentum_; }
  void set_steps(std::int64_t s) { steps_ = s; }

 private:
  std::vector<ParamSpan<T>> spans_;
  std::vector<Buffer<T>> momentum_;
  std::int64_t steps_ = 0;
};

struct AdamOptions {
  double lr = 1e-3;
  struct Betas {
    double b1 = 0.9, b2 = 0.999;
  } betas;
  double eps = 1e-8;
  double weight_decay = 0;
};

// One Adam step's scalars in T, as PyTorch's Adam computes them (bias corrections in double):
// p -= step_size · m / (√v · inv_sqrt_bc2 + eps). Shared by the CPU and CUDA optimizers.
template <class T>
struct AdamCoefficients {
  T wd, b1, c1, b2, c2, step_size, inv_sqrt_bc2, eps;
  AdamCoefficients(const AdamOptions& o, double lr, std::int64_t step) {
    const double B1 = o.betas.b1, B2 = o.betas.b2;
    const double bc1 = 1 - std::pow(B1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(B2, static_cast<double>(step));
    wd = static_cast<T>(o.weight_decay), eps = static_cast<T>(o.eps);
    b1 = static_cast<T>(B1), c1 = static_cast<T>(1 - B1);
    b2 = static_cast<T>(B2), c2 = static_cast<T>(1 - B2);
    step_size = static_cast<T>(lr / bc1), inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bc2));
  }
};

template <class T>
class Adam {
 public:
  Adam(ParamSpan<T> p, AdamOptions o = {}) : Adam({p}, o) {}
  Adam(std::initializer_list<ParamSpan<T>> ps, AdamOptions o = {})
      : opt(o), lr(o.lr), spans_(ps) {
    for (auto& s : spans_) {
      m_.emplace_back(s.size, T(0));
      v_.emplace_back(s.size, T(0));
    }
  }

  void step() {
    ++steps_;
    const AdamCoefficients<T> c(opt, lr, steps_);
    const T step_size = c.step_size, inv_sqrt_bc2 = c.inv_sqrt_bc2, wd = c.wd, eps = c.eps;
    const T B1 = c.b1, B2 = c.b2, C1 = c.c1, C2 = c.c2;
    for (std::size_t k = 0; k < spans_.size(); ++k) {
      T* ZOO_RESTRICT p = spans_[k].data;
      const T* ZOO_RESTRICT dp = spans_[k].grad;
      T* ZOO_RESTRICT m = m_[k].data();
      T* ZOO_RESTRICT v = v_[k].data();
      // xsimd: std::sqrt keeps its errno path unless users build with
      // -fno-math-errno, and then this loop does not vectorize (7x slower).
      for_param_rows(spans_[k], 8, [&](std::size_t lo, std::size_t hi) {
        using B = xsimd::batch<T>;
        auto update = [&](T* pp, const T* gp, T* mp, T* vp) {
          const B pv = B::load_unaligned(pp);
          const B g = B::load_unaligned(gp) + B(wd) * pv;
          const B mv = B(B1) * B::load_unaligned(mp) + B(C1) * g;
          const B vv = B(B2) * B::load_unaligned(vp) + B(C2) * g * g;
          mv.store_unaligned(mp);
          vv.store_unaligned(vp);
          (pv - B(step_size) * mv / (xsimd::sqrt(vv) * B(inv_sqrt_bc2) + B(eps))).store_unaligned(pp);
        };
        std::size_t i = lo;
        for (; i + B::size <= hi; i += B::size) update(p + i, dp + i, m + i, v + i);
        if (i < hi) {
          // The tail through the same vector code, so no value depends on where a
          // thread's range ends: results are the same on any number of threads.
          T tp[B::size] = {}, tg[B::size] = {}, tm[B::size] = {}, tv[B::size] = {};
          const std::size_t r = hi - i;
          std::copy(p + i, p + hi, tp);
          std::copy(dp + i, dp + hi, tg);
          std::copy(m + i, m + hi, tm);
          std::copy(v + i, v + hi, tv);
          update(tp, tg, tm, tv);
          std::copy(tp, tp + r, p + i);
          std::copy(tm, tm + r, m + i);
          std::copy(tv, tv + r, v + i);
        }
      });
    }
  }

  AdamOptions opt;
  double lr;
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  std::vector<Buffer<T>>& exp_avg() { return m_; }
  std::vector<Buffer<T>>& exp_avg_sq() { return v_; }

 private:
  std::vector<ParamSpan<T>> spans_;
  std::vector<Buffer<T>> m_, v_;
  std::int64_t steps_ = 0;
};

template <class T>
Adam(ParamSpan<T>, AdamOptions) -> Adam<T>;

template <class T>
SGD(ParamSpan<T>, SGDOptions) -> SGD<T>;

// The Adam that steps model M's parameters: zoo::Adam for CPU models; cuda/optim.hpp
// names its own for device models, so a trainer written once over the model type
// (models/gan_training.hpp) steps either.
template <class M>
struct adam_for {
  using type = Adam<typename M::scalar>;
};
template <class M>
using adam_for_t = typename adam_for<M>::type;

}  // namespace zoo

// zoo/cuda/losses.hpp — losses on device tensors, with zoo/losses/losses.hpp's formulas,
// arguments and results. Each returns the loss on the host (one reduction, copied back)
// and, when `grad` is given, WRITES dL/dpred into it on the device. The gradient is the CPU
// version's arithmetic value for value; the loss is summed in double.
#pragma once
#include <thrust/find.h>
#include <thrust/functional.h>
#include <thrust/transform_reduce.h>

#include <stdexcept>
#include <string>

#include "../losses/losses.hpp"
#include "layers.hpp"
#include "scratch.hpp"
#include "tensor.hpp"

namespace zoo::cuda {

namespace detail {
template <class T>
void check_same(const Tensor<T>& a, const Tensor<T>& b, const char* what) {
  if (a.size() != b.size())
    throw std::invalid_argument(std::string("zoo::cuda::") + what + ": prediction " +
                                a.shape_str() + " and target " + b.shape_str() + " differ in size");
}
template <class T>
T* prep_grad(const Tensor<T>& pred, Tensor<T>* grad) {
  if (!grad) return nullptr;
  grad->resize(pred.shape());
  return grad->data();
}
// Σ f(i) in double over [0, n) on the device.
template <class F>
double sum(index_t n, const F& f) {
  return thrust::transform_reduce(reduce_policy(), thrust::counting_iterator<index_t>(0),
                                  thrust::counting_iterator<index_t>(n), f, 0.0,
                                  thrust::plus<double>());
}
template <class T>
struct SqDiff {  // (p − y)², and g = gs·(p − y)
  const T* p;
  const T* y;
  T* g;
  T gs;
  ZOO_HD double operator()(index_t i) const {
    const T d = p[i] - y[i];
    if (g) g[i] = gs * d;
    return static_cast<double>(d) * d;
  }
};
template <class T>
struct Bce {  // −[y log p + (1−y) log(1−p)], logs ≥ −100; g = gs·(p − y)/max(p(1−p), 1e−12)
  const T* p;
  const T* y;
  T* g;
  T gs;
  ZOO_HD double operator()(index_t i) const {
    const T pi = p[i], yi = y[i];
    if (!(pi >= T(0) && pi <= T(1))) return 0.0 / 0.0;  // NaN: reported by the caller
    double lp = log(static_cast<double>(pi)), l1p = log1p(-static_cast<double>(pi));
    lp = lp < -100.0 ? -100.0 : lp;
    l1p = l1p < -100.0 ? -100.0 : l1p;
    if (g) {
      const T q = pi * (T(1) - pi);
      g[i] = gs * (pi - yi) / (q > T(1e-12) ? q : T(1e-12));
    }
    return -(yi * lp + (1 - yi) * l1p);
  }
};
template <class T>
struct BceLogits {  // max(x, 0) − x·y + log(1 + e^{−|x|});  g = (σ(x) − y)·scale
  const T* x;
  const T* y;  // or null: every target is `yc`
  T yc;
  T* g;
  T scale;
  ZOO_HD double operator()(index_t i) const {
    const T v = x[i], t = y ? y[i] : yc;
    const T a = v < T(0) ? -v : v;
    if (g) {
      const T sig = v >= T(0) ? T(1) / (T(1) + act::vm::exp(-v)) : act::vm::exp(v) / (T(1) + act::vm::exp(v));
      g[i] = (sig - t) * scale;
    }
    return static_cast<double>((v > T(0) ? v : T(0)) - v * t + log1p(act::vm::exp(-a)));
  }
};

template <class T>
struct Kl {  // −½(1 + lv − μ² − e^{lv}); gμ = s·μ, glv = s·½(e^{lv} − 1)
  const T* mu;
  const T* lv;
  T* gm;
  T* gl;
  T s;
  ZOO_HD double operator()(index_t i) const {
    const T m = mu[i], l = lv[i], e = act::vm::exp(l);
    if (gm) gm[i] = m * s;
    if (gl) gl[i] = T(0.5) * (e - T(1)) * s;
    return -0.5 * (1.0 + static_cast<double>(l) - static_cast<double>(m) * m - static_cast<double>(e));
  }
};
template <class T>
struct LeastSquares {  // (s − t)²;  g = (s − t)/n
  const T* x;
  T t;
  T* g;
  T n;
  ZOO_HD double operator()(index_t i) const {
    const T d = x[i] - t;
    if (g) g[i] = d / n;
    return static_cast<double>(d) * d;
  }
};

template <class T>
struct BadLabel {  // 1 where labels[i] is not an integer in [0, c)
  const T* labels;
  index_t c;
  ZOO_HD double operator()(index_t i) const {
    const T v = labels[i];
    return v >= T(0) && v < static_cast<T>(c) && static_cast<T>(static_cast<index_t>(v)) == v ? 0.0 : 1.0;
  }
};
template <class T>
struct IsBadLabel {
  BadLabel<T> bad;
  ZOO_HD bool operator()(index_t i) const { return bad(i) != 0.0; }
};
template <class T>
struct CrossEntropy {  // per sample: lse(x) − x[label]; g = (softmax(x) − onehot)·scale
  const T* x;
  const T* labels;  // class indices, as values of T
  T* g;
  index_t c;
  T scale;
  ZOO_HD double operator()(index_t i) const {
    if (BadLabel<T>{labels, c}(i) != 0) return 0.0 / 0.0;  // reported by the caller
    const index_t lab = static_cast<index_t>(labels[i]);
    const T* r = x + i * c;
    T m = r[0];
    for (index_t k = 1; k < c; ++k) m = r[k] > m ? r[k] : m;
    double z = 0;
    for (index_t k = 0; k < c; ++k) z += exp(static_cast<double>(r[k] - m));
    const double lse = static_cast<double>(m) + log(z);
    if (g)
      for (index_t k = 0; k < c; ++k)
        g[i * c + k] = static_cast<T>((exp(static_cast<double>(r[k]) - lse) - (k == lab ? 1.0 : 0.0)) * scale);
    return lse - static_cast<double>(r[lab]);
  }
};

// The targets are t[i], or `t0` everywhere when t is null.
template <class T>
T bce_with_logits(const Tensor<T>& logits, const T* t, T t0, Tensor<T>* grad, Reduction r) {
  T* g = prep_grad(logits, grad);
  const std::size_t n = logits.size();
  const T scale = r == Reduction::mean ? T(1) / T(n) : T(1);
  return static_cast<T>(
      sum(static_cast<index_t>(n), BceLogits<T>{logits.data(), t, t0, g, scale}) * scale);
}
}  // namespace detail

template <class T>
T bce_with_logits_loss(const Tensor<T>& logits, const Tensor<T>& target,
                       zoo::detail::no_deduce<Tensor<T>>* grad = nullptr,
                       Reduction r = Reduction::mean) {
  detail::check_same(logits, target, "bce_with_logits_loss");
  return detail::bce_with_logits(logits, target.data(), T(0), grad, r);
}
// Every target equal to `target` (1 for "real", 0 for "fake" in a GAN).
template <class T>
T bce_with_logits_loss(const Tensor<T>& logits, zoo::detail::no_deduce<T> target,
                       zoo::detail::no_deduce<Tensor<T>>* grad = nullptr,
                       Reduction r = Reduction::mean) {
  return detail::bce_with_logits(logits, static_cast<const T*>(nullptr), target, grad, r);
}

template <class T>
T mse_loss(const Tensor<T>& pred, const Tensor<T>& target,
           zoo::detail::no_deduce<Tensor<T>>* grad = nullptr, Reduction r = Reduction::mean,
           zoo::detail::no_deduce<T> extra_scale = T(1)) {
  detail::check_same(pred, target, "mse_loss");
  T* g = detail::prep_grad(pred, grad);
  const std::size_t n = pred.size();
  const T s = (r == Reduction::mean ? T(1) / T(n) : T(1)) * extra_scale;
  const double total = detail::sum(static_cast<index_t>(n),
                                   detail::SqDiff<T>{pred.data(), target.data(), g, T(2) * s});
  return static_cast<T>(total * s);
}

template <class T>
T bce_loss(const Tensor<T>& pred, const Tensor<T>& target,
           zoo::detail::no_deduce<Tensor<T>>* grad = nullptr, Reduction r = Reduction::mean,
           zoo::detail::no_deduce<T> extra_scale = T(1)) {
  detail::check_same(pred, target, "bce_loss");
  T* g = detail::prep_grad(pred, grad);
  const std::size_t n = pred.size();
  const T s = (r == Reduction::mean ? T(1) / T(n) : T(1)) * extra_scale;
  const double total =
      detail::sum(static_cast<index_t>(n), detail::Bce<T>{pred.data(), target.data(), g, s});
  if (total != total)
    throw std::invalid_argument(
        "zoo::cuda::bce_loss: a prediction lies outside [0, 1] or is NaN (put a Sigmoid before "
        "the loss, or use bce_with_logits_loss)");
  return static_cast<T>(total * s);
}

// KL(N(μ, e^{lv}) ‖ N(0, 1)): sum reduction sums over everything, mean divides by N·dims.
template <class T>
T kl_normal_loss(const Tensor<T>& mu, const Tensor<T>& logvar,
                 zoo::detail::no_deduce<Tensor<T>>* dmu = nullptr,
                 zoo::detail::no_deduce<Tensor<T>>* dlogvar = nullptr, Reduction r = Reduction::sum,
                 zoo::detail::no_deduce<T> extra_scale = T(1)) {
  detail::check_same(mu, logvar, "kl_normal_loss");
  T* gm = detail::prep_grad(mu, dmu);
  T* gl = detail::prep_grad(logvar, dlogvar);
  const std::size_t n = mu.size();
  const T s = (r == Reduction::mean ? T(1) / T(n) : T(1)) * extra_scale;
  return static_cast<T>(
      detail::sum(static_cast<index_t>(n), detail::Kl<T>{mu.data(), logvar.data(), gm, gl, s}) * s);
}

// ½·mean((s − target)²): the least-squares GAN's terms, as zoo::least_squares_loss.
template <class T>
T least_squares_loss(const Tensor<T>& scores, zoo::detail::no_deduce<T> target,
                     zoo::detail::no_deduce<Tensor<T>>* grad = nullptr) {
  T* g = detail::prep_grad(scores, grad);
  const std::size_t n = scores.size();
  const double s = detail::sum(static_cast<index_t>(n),
                               detail::LeastSquares<T>{scores.data(), target, g, T(n)});
  return static_cast<T>(0.5 * s / static_cast<double>(n));
}
template <class T>
T ls_discriminator_loss(const Tensor<T>& real, const Tensor<T>& fake,
                        zoo::detail::no_deduce<Tensor<T>>* dreal = nullptr,
                        zoo::detail::no_deduce<Tensor<T>>* dfake = nullptr) {
  return least_squares_loss(real, T(1), dreal) + least_squares_loss(fake, T(0), dfake);
}
template <class T>
T ls_generator_loss(const Tensor<T>& fake, zoo::detail::no_deduce<Tensor<T>>* dfake = nullptr) {
  return least_squares_loss(fake, T(1), dfake);
}

// logits (N, C) on the device; labels N class indices (as values of T) on the device, the
// batch's labels copied over once (a host std::span would need a copy, and so memory, per
// call). Formulas, reduction and gradient: zoo::cross_entropy_loss's.
template <class T>
T cross_entropy_loss(const Tensor<T>& logits, const Tensor<T>& labels,
                     zoo::detail::no_deduce<Tensor<T>>* grad = nullptr, Reduction r = Reduction::mean) {
  const std::size_t n = logits.batch(), c = logits.sample_size();
  if (labels.size() != n)
    throw std::invalid_argument("zoo::cuda::cross_entropy_loss: " + std::to_string(labels.size()) +
                                " labels for a batch of " + std::to_string(n));
  T* g = detail::prep_grad(logits, grad);
  const T scale = r == Reduction::mean ? T(1) / T(n) : T(1);
  const double s = detail::sum(static_cast<index_t>(n),
                               detail::CrossEntropy<T>{logits.data(), labels.data(), g,
                                                       static_cast<index_t>(c), scale});
  // NaN: a bad label, or logits that are not finite (a diverging run: NaN, as on the CPU).
  if (s != s) {
    const auto at = thrust::find_if(reduce_policy(), thrust::counting_iterator<index_t>(0),
                                    thrust::counting_iterator<index_t>(static_cast<index_t>(n)),
                                    detail::IsBadLabel<T>{{labels.data(), static_cast<index_t>(c)}});
    const auto i = static_cast<std::size_t>(*at);
    if (i < n) {
      T v{};
      copy_to_host(labels.data() + i, 1, &v);
      throw std::invalid_argument("zoo::cuda::cross_entropy_loss: label " + std::to_string(v) + " of sample " +
                                  std::to_string(i) + " is not a class index in [0, " + std::to_string(c) +
                                  ")");
    }
  }
  return static_cast<T>(s * scale);
}

}  // namespace zoo::cuda

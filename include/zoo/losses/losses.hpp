// zoo/losses/losses.hpp — losses as PyTorch's functional forms, value and gradient.
//
// Each returns the loss and, when `grad` is given, WRITES dL/dpred into it
// (resized to pred's shape). Reduction::mean divides by the number of elements,
// Reduction::sum does not, as torch's `reduction=`. The last argument of mse, bce
// and kl_normal (`extra_scale`) multiplies loss and gradient alike — 1/N for "sum per
// image" — inside their one pass, so callers need no second pass over the gradient.
//
//   mse                 (p − y)²                                   ∂ = 2(p − y)
//   bce                 −[y log p + (1−y) log(1−p)], logs ≥ −100    ∂ = (p − y)/max(p(1−p), 1e−12)
//   bce_with_logits     max(x,0) − x·y + log(1 + e^{−|x|})         ∂ = σ(x) − y
//   cross_entropy       −log softmax(x)[label], mean over N        ∂ = softmax(x) − onehot
//   kl_normal           −½ Σ (1 + lv − μ² − e^{lv})                ∂μ = μ, ∂lv = ½(e^{lv} − 1)
//   least_squares       ½ · mean((s − target)²)                    ∂ = (s − target)/count
#pragma once
#include <algorithm>
#include <cmath>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include "../core/vendor.hpp"  // Eigen, xsimd, intrinsics

#include "../core/config.hpp"
#include "../core/tensor.hpp"

namespace zoo {

enum class Reduction { mean, sum };

namespace detail {
// Only the prediction tensor deduces T, so `nullptr` gradients and plain `1.0`
// targets work with Tensor<float> too.
template <class T>
using no_deduce = std::type_identity_t<T>;

template <class T>
void check_same(const Tensor<T>& a, const Tensor<T>& b, const char* what) {
  if (a.size() != b.size())
    throw std::invalid_argument(std::string("zoo::") + what + ": prediction " + a.shape_str() +
                                " and target " + b.shape_str() + " differ in size");
}
template <class T>
T* prep_grad(const Tensor<T>& pred, Tensor<T>* grad) {
  if (!grad) return nullptr;
  grad->resize(pred.shape());
  return grad->data();
}
}  // namespace detail

namespace detail {
// Σ (p − y)² over [0, n), and g = gs·(p − y) when G. SIMD lanes accumulate in T
// over blocks of kSumBlock values and each block's sum is added in double, so
// the result keeps (nearly) double's accuracy at SIMD speed.
inline constexpr std::size_t kSumBlock = 2048;
template <bool G, class T>
double sq_diff_sum(const T* ZOO_RESTRICT p, const T* ZOO_RESTRICT y, T* ZOO_RESTRICT g, T gs,
                   std::size_t n) {
  using B = xsimd::batch<T>;
  double total = 0;
  for (std::size_t b = 0; b < n; b += kSumBlock) {
    const std::size_t e = std::min(n, b + kSumBlock);
    B acc(T(0));
    std::size_t i = b;
    for (; i + B::size <= e; i += B::size) {
      const B d = B::load_unaligned(p + i) - B::load_unaligned(y + i);
      acc = xsimd::fma(d, d, acc);
      if constexpr (G) (B(gs) * d).store_unaligned(g + i);
    }
    double part = static_cast<double>(xsimd::hadd(acc));
    for (; i < e; ++i) {
      const T d = p[i] - y[i];
      part += static_cast<double>(d) * d;
      if constexpr (G) g[i] = gs * d;
    }
    total += part;
  }
  return total;
}
}  // namespace detail

template <class T>
T mse_loss(const Tensor<T>& pred, const Tensor<T>& target, detail::no_deduce<Tensor<T>>* grad = nullptr,
           Reduction r = Reduction::mean, detail::no_deduce<T> extra_scale = T(1)) {
  detail::check_same(pred, target, "mse_loss");
  T* g = detail::prep_grad(pred, grad);
  const std::size_t n = pred.size();
  const T s = (r == Reduction::mean ? T(1) / T(n) : T(1)) * extra_scale;
  const double sum = g ? detail::sq_diff_sum<true>(pred.data(), target.data(), g, T(2) * s, n)
                       : detail::sq_diff_sum<false>(pred.data(), target.data(), g, T(2) * s, n);
  return static_cast<T>(sum * s);
}

namespace detail {
// Σ −[y log p + (1−y) log(1−p)] over [0, n), logs clamped at −100, and
// g = gs·(p − y)/max(p(1−p), 1e−12) when G; in SIMD lanes (the scalar logs were
// most of the BCE VAE's loss time), block sums folded into double as above.
// Returns false, having summed garbage, when some p lies outside [0, 1] or is NaN.
template <bool G, class T>
bool bce_sum(const T* ZOO_RESTRICT p, const T* ZOO_RESTRICT y, T* ZOO_RESTRICT g, T gs,
             std::size_t n, double& total) {
  using B = xsimd::batch<T>;
  const B zero(T(0)), one(T(1)), lo(T(-100)), eps(T(1e-12));
  auto ok = xsimd::batch_bool<T>(true);
  bool tail_ok = true;
  total = 0;
  for (std::size_t b = 0; b < n; b += kSumBlock) {
    const std::size_t e = std::min(n, b + kSumBlock);
    B acc(T(0));
    std::size_t i = b;
    for (; i + B::size <= e; i += B::size) {
      const B pv = B::load_unaligned(p + i), yv = B::load_unaligned(y + i);
      ok = ok & (pv >= zero) & (pv <= one);  // NaN fails both
      const B lp = xsimd::max(xsimd::log(pv), lo), l1p = xsimd::max(xsimd::log1p(-pv), lo);
      acc = acc - xsimd::fma(yv, lp - l1p, l1p);  // y·lp + (1−y)·l1p
      if constexpr (G) (B(gs) * (pv - yv) / xsimd::max(pv * (one - pv), eps)).store_unaligned(g + i);
    }
    double part = static_cast<double>(xsimd::hadd(acc));
    for (; i < e; ++i) {
      const T pi = p[i], yi = y[i];
      tail_ok = tail_ok && pi >= T(0) && pi <= T(1);
      const double lp = std::max(std::log(static_cast<double>(pi)), -100.0);
      const double l1p = std::max(std::log1p(-static_cast<double>(pi)), -100.0);
      part -= yi * lp + (1 - yi) * l1p;
      if constexpr (G) g[i] = static_cast<T>(gs * (pi - yi) / std::max(static_cast<double>(pi) * (1 - pi), 1e-12));
    }
    total += part;
  }
  return tail_ok && xsimd::all(ok);
}
}  // namespace detail

template <class T>
T bce_loss(const Tensor<T>& pred, const Tensor<T>& target, detail::no_deduce<Tensor<T>>* grad = nullptr,
           Reduction r = Reduction::mean, detail::no_deduce<T> extra_scale = T(1)) {
  detail::check_same(pred, target, "bce_loss");
  T* g = detail::prep_grad(pred, grad);
  const std::size_t n = pred.size();
  const T scale = (r == Reduction::mean ? T(1) / T(n) : T(1)) * extra_scale;
  double s = 0;
  const bool ok = g ? detail::bce_sum<true>(pred.data(), target.data(), g, scale, n, s)
                    : detail::bce_sum<false>(pred.data(), target.data(), g, scale, n, s);
  if (!ok)
    for (std::size_t i = 0; i < n; ++i)
      if (const T p = pred[i]; !(p >= T(0) && p <= T(1)))
        throw std::invalid_argument("zoo::bce_loss: predictions must lie in [0, 1] (got " +
                                    std::to_string(p) + " at " + std::to_string(i) +
                                    "); use bce_with_logits_loss on logits");
  return static_cast<T>(s * scale);
}

template <class T>
T bce_with_logits_loss(const Tensor<T>& logits, const Tensor<T>& target, detail::no_deduce<Tensor<T>>* grad = nullptr,
                       Reduction r = Reduction::mean) {
  detail::check_same(logits, target, "bce_with_logits_loss");
  T* g = detail::prep_grad(logits, grad);
  const std::size_t n = logits.size();
  const T scale = r == Reduction::mean ? T(1) / T(n) : T(1);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T x = logits[i], y = target[i];
    s += std::max(x, T(0)) - x * y + std::log1p(std::exp(-std::abs(x)));
    if (g) {
      const T sig = x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
      g[i] = (sig - y) * scale;
    }
  }
  return static_cast<T>(s * scale);
}
// Every target equal to `target` (1 for "real", 0 for "fake" in a GAN).
template <class T>
T bce_with_logits_loss(const Tensor<T>& logits, detail::no_deduce<T> target, detail::no_deduce<Tensor<T>>* grad = nullptr,
                       Reduction r = Reduction::mean) {
  T* g = detail::prep_grad(logits, grad);
  const std::size_t n = logits.size();
  const T scale = r == Reduction::mean ? T(1) / T(n) : T(1);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T x = logits[i];
    s += std::max(x, T(0)) - x * target + std::log1p(std::exp(-std::abs(x)));
    if (g) {
      const T sig = x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
      g[i] = (sig - target) * scale;
    }
  }
  return static_cast<T>(s * scale);
}

// logits (N, C); labels N class indices in [0, C).
template <class T, class Label>
T cross_entropy_loss(const Tensor<T>& logits, std::span<const Label> labels,
                     detail::no_deduce<Tensor<T>>* grad = nullptr, Reduction r = Reduction::mean) {
  const std::size_t n = logits.batch(), c = logits.sample_size();
  if (labels.size() != n)
    throw std::invalid_argument("zoo::cross_entropy_loss: " + std::to_string(labels.size()) +
                                " labels for a batch of " + std::to_string(n));
  T* g = detail::prep_grad(logits, grad);
  const T scale = r == Reduction::mean ? T(1) / T(n) : T(1);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto lab = static_cast<std::size_t>(labels[i]);
    if (labels[i] < 0 || lab >= c)
      throw std::invalid_argument("zoo::cross_entropy_loss: label " +
                                  std::to_string(static_cast<long long>(labels[i])) +
                                  " is outside [0, " + std::to_string(c) + ")");
    const T* x = logits.data() + i * c;
    const T m = *std::max_element(x, x + c);
    double z = 0;
    for (std::size_t k = 0; k < c; ++k) z += std::exp(static_cast<double>(x[k] - m));
    const double lse = m + std::log(z);
    s += lse - x[lab];
    if (g)
      for (std::size_t k = 0; k < c; ++k)
        g[i * c + k] = static_cast<T>((std::exp(x[k] - lse) - (k == lab ? 1.0 : 0.0)) * scale);
  }
  return static_cast<T>(s * scale);
}

// KL(N(μ, e^{lv}) ‖ N(0, 1)); sum reduction sums over everything, mean divides by N·dims.
template <class T>
T kl_normal_loss(const Tensor<T>& mu, const Tensor<T>& logvar, detail::no_deduce<Tensor<T>>* dmu = nullptr,
                 detail::no_deduce<Tensor<T>>* dlogvar = nullptr, Reduction r = Reduction::sum,
                 detail::no_deduce<T> extra_scale = T(1)) {
  detail::check_same(mu, logvar, "kl_normal_loss");
  T* gm = detail::prep_grad(mu, dmu);
  T* gl = detail::prep_grad(logvar, dlogvar);
  const std::size_t n = mu.size();
  const T scale = (r == Reduction::mean ? T(1) / T(n) : T(1)) * extra_scale;
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T m = mu[i], lv = logvar[i], e = std::exp(lv);
    s += -0.5 * (1.0 + lv - static_cast<double>(m) * m - e);
    if (gm) gm[i] = m * scale;
    if (gl) gl[i] = T(0.5) * (e - T(1)) * scale;
  }
  return static_cast<T>(s * scale);
}

// ½·mean((s − target)²): the least-squares GAN's terms. D: ls(real, 1) + ls(fake, 0);
// G: ls(fake, 1).
template <class T>
T least_squares_loss(const Tensor<T>& scores, detail::no_deduce<T> target, detail::no_deduce<Tensor<T>>* grad = nullptr) {
  T* g = detail::prep_grad(scores, grad);
  const std::size_t n = scores.size();
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T d = scores[i] - target;
    s += static_cast<double>(d) * d;
    if (g) g[i] = d / T(n);
  }
  return static_cast<T>(0.5 * s / n);
}
template <class T>
T ls_discriminator_loss(const Tensor<T>& real, const Tensor<T>& fake, detail::no_deduce<Tensor<T>>* dreal = nullptr,
                        detail::no_deduce<Tensor<T>>* dfake = nullptr) {
  return least_squares_loss(real, T(1), dreal) + least_squares_loss(fake, T(0), dfake);
}
template <class T>
T ls_generator_loss(const Tensor<T>& fake, detail::no_deduce<Tensor<T>>* dfake = nullptr) {
  return least_squares_loss(fake, T(1), dfake);
}

}  // namespace zoo

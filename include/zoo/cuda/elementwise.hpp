// zoo/cuda/elementwise.hpp — the data-movement and element-wise layers on the device:
// Concat, Add and Mul (with per-channel broadcasting), Expand2d, Upsample and
// Reparameterize, each with its CPU layer's arithmetic. Sums over a broadcast operand or an
// upsampled block are taken by one index each, in the CPU's order.
#pragma once
#include <array>

#include "../layers/concat.hpp"
#include "../layers/elementwise.hpp"
#include "../layers/expand.hpp"
#include "../layers/reparameterize.hpp"
#include "../layers/upsample.hpp"
#include "layers.hpp"

namespace zoo::cuda {

namespace fn {
template <class T, bool Forward>
struct Slab {  // Concat: input k's slab of each sample, at `off` in the output's sample
  const T* src;
  T* dst;
  index_t s, S, off;  // the input's sample size, the output's, the slab's offset
  ZOO_HD void operator()(index_t i) const {
    const index_t n = i / s, j = i - n * s;
    if constexpr (Forward) dst[n * S + off + j] = src[i];
    else dst[i] += src[n * S + off + j];
  }
};
template <class T, bool IsMul>
struct BinaryFull {  // both operands full size
  const T* a;
  const T* b;
  T* y;
  ZOO_HD void operator()(index_t i) const { y[i] = IsMul ? a[i] * b[i] : a[i] + b[i]; }
};
// Row (sample i, channel c) of a broadcasting Add/Mul: forward, or backward into da, db.
template <class T, bool IsMul, bool AFull, bool BFull>
struct BinaryRow {
  const T* a;
  const T* b;
  const T* dy;
  T* y;   // forward
  T* da;  // backward (either may be null)
  T* db;
  index_t C, HW;
  bool backward;
  ZOO_HD index_t at(bool full, index_t i, index_t c, index_t k) const {
    return full ? (i * C + c) * HW + k : i * C + c;
  }
  ZOO_HD void operator()(index_t ic) const {
    const index_t i = ic / C, c = ic - i * C;
    if (!backward) {
      T* yp = y + ic * HW;
      for (index_t k = 0; k < HW; ++k) {
        const T av = a[at(AFull, i, c, k)], bv = b[at(BFull, i, c, k)];
        yp[k] = IsMul ? av * bv : av + bv;
      }
      return;
    }
    const T* d = dy + ic * HW;
    T sa = T(0), sb = T(0);
    for (index_t k = 0; k < HW; ++k) {
      const T ga = IsMul ? d[k] * b[at(BFull, i, c, k)] : d[k];
      const T gb = IsMul ? d[k] * a[at(AFull, i, c, k)] : d[k];
      if (AFull) {
        if (da) da[at(true, i, c, k)] += ga;
      } else {
        sa += ga;
      }
      if (BFull) {
        if (db) db[at(true, i, c, k)] += gb;
      } else {
        sb += gb;
      }
    }
    if (!AFull && da) da[ic] += sa;
    if (!BFull && db) db[ic] += sb;
  }
};
template <class T>
struct MulGrad {  // d_self += dy · other (both full size)
  const T* dy;
  const T* other;
  T* d;
  ZOO_HD void operator()(index_t i) const { d[i] += dy[i] * other[i]; }
};
template <class T>
struct PlaneSumsAdd {  // dx[i] += Σ_k dy[i·HW + k]
  const T* dy;
  T* dx;
  index_t HW;
  ZOO_HD void operator()(index_t i) const {
    T s = T(0);
    for (index_t k = 0; k < HW; ++k) s += dy[i * HW + k];
    dx[i] += s;
  }
};
template <class T>
struct ExpandForward {  // y[(n, c), k] = x[(n, c)]
  const T* x;
  T* y;
  index_t HW;
  ZOO_HD void operator()(index_t i) const { y[i] = x[i / HW]; }
};
template <class T>
struct UpsampleForward {
  const T* x;
  T* y;
  index_t H, W, S;
  ZOO_HD void operator()(index_t i) const {
    const index_t OW = S * W, OH = S * H;
    const index_t w = i % OW, h = (i / OW) % OH, pl = i / (OW * OH);
    y[i] = x[(pl * H + h / S) * W + w / S];
  }
};
template <class T>
struct UpsampleBackward {  // dx[pl, h, w] += Σ_a (Σ_b dy[pl, S·h + a, S·w + b]), the CPU's order
  const T* dy;
  T* dx;
  index_t H, W, S;
  ZOO_HD void operator()(index_t i) const {
    const index_t OW = S * W, OH = S * H;
    const index_t w = i % W, h = (i / W) % H, pl = i / (W * H);
    T acc = dx[i];
    for (index_t a = 0; a < S; ++a) {
      const T* row = dy + (pl * OH + h * S + a) * OW + w * S;
      T s = T(0);
      for (index_t b = 0; b < S; ++b) s += row[b];
      acc += s;
    }
    dx[i] = acc;
  }
};
template <class T>
struct ReparamForward {  // sd = exp(½·lv), z = μ + sd·ε
  const T* mu;
  const T* lv;
  const T* eps;
  T* sd;
  T* z;
  ZOO_HD void operator()(index_t i) const {
    sd[i] = act::vm::exp(T(0.5) * lv[i]);
    z[i] = mu[i] + sd[i] * eps[i];
  }
};
template <class T>
struct ReparamGradLv {  // dlv += dz·½·sd·ε
  const T* dz;
  const T* sd;
  const T* eps;
  T* dlv;
  ZOO_HD void operator()(index_t i) const { dlv[i] += dz[i] * T(0.5) * sd[i] * eps[i]; }
};
}  // namespace fn

// ------------------------------------------------------------------ Concat
template <class T, class... Ins>
struct layer<zoo::detail::ConcatLayer<T, Ins...>> : leaf<zoo::detail::ConcatLayer<T, Ins...>> {
  using L = zoo::detail::ConcatLayer<T, Ins...>;
  static constexpr std::size_t K = L::arity;
  static constexpr index_t S = L::output_shape::size;
  static constexpr std::array<index_t, K> sizes{static_cast<index_t>(Ins::size)...};
  void forward(const std::array<const T*, K>& x, T* y, std::size_t n) {
    index_t off = 0;
    for (std::size_t k = 0; k < K; ++k) {
      launch(static_cast<index_t>(n) * sizes[k], fn::Slab<T, true>{x[k], y, sizes[k], S, off});
      off += sizes[k];
    }
  }
  void backward(const std::array<const T*, K>&, const T*, const T* dy, const std::array<T*, K>& dx,
                std::size_t n) {
    index_t off = 0;
    for (std::size_t k = 0; k < K; ++k) {
      if (dx[k]) launch(static_cast<index_t>(n) * sizes[k], fn::Slab<T, false>{dy, dx[k], sizes[k], S, off});
      off += sizes[k];
    }
  }
};

// ------------------------------------------------------------------ Add, Mul
template <class T, class A, class B, bool IsMul>
struct layer<zoo::detail::BinaryLayer<T, A, B, IsMul>> : leaf<zoo::detail::BinaryLayer<T, A, B, IsMul>> {
  using L = zoo::detail::BinaryLayer<T, A, B, IsMul>;
  using bs = typename L::bs;
  static constexpr index_t S = L::S, C = L::C, HW = L::HW;
  static constexpr bool full = bs::a_full && bs::b_full;
  using Row = fn::BinaryRow<T, IsMul, bs::a_full, bs::b_full>;
  void forward(const std::array<const T*, 2>& x, T* y, std::size_t n) {
    if constexpr (full) launch(static_cast<index_t>(n) * S, fn::BinaryFull<T, IsMul>{x[0], x[1], y});
    else launch(static_cast<index_t>(n) * C, Row{x[0], x[1], nullptr, y, nullptr, nullptr, C, HW, false});
  }
  void backward(const std::array<const T*, 2>& x, const T*, const T* dy, const std::array<T*, 2>& dx,
                std::size_t n) {
    if constexpr (full) {
      const index_t m = static_cast<index_t>(n) * S;
      if constexpr (IsMul) {
        if (dx[0]) launch(m, fn::MulGrad<T>{dy, x[1], dx[0]});
        if (dx[1]) launch(m, fn::MulGrad<T>{dy, x[0], dx[1]});
      } else {
        if (dx[0]) add_to(dy, static_cast<std::size_t>(m), dx[0]);
        if (dx[1]) add_to(dy, static_cast<std::size_t>(m), dx[1]);
      }
    } else {
      launch(static_cast<index_t>(n) * C, Row{x[0], x[1], dy, nullptr, dx[0], dx[1], C, HW, true});
    }
  }
};

// ------------------------------------------------------------------ Expand2d
template <class T, class In, std::size_t H, std::size_t W>
struct layer<Expand2dLayer<T, In, H, W>> : leaf<Expand2dLayer<T, In, H, W>> {
  static constexpr index_t C = In::size, HW = H * W;
  void forward(const T* x, T* y, std::size_t n) {
    launch(static_cast<index_t>(n) * C * HW, fn::ExpandForward<T>{x, y, HW});
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n) * C, fn::PlaneSumsAdd<T>{dy, dx, HW});
  }
};

// ------------------------------------------------------------------ Upsample
template <class T, class In, std::size_t S>
struct layer<UpsampleLayer<T, In, S>> : leaf<UpsampleLayer<T, In, S>> {
  static constexpr index_t H = In::H, W = In::W;
  void forward(const T* x, T* y, std::size_t n) {
    launch(static_cast<index_t>(n * UpsampleLayer<T, In, S>::output_shape::size),
           fn::UpsampleForward<T>{x, y, H, W, S});
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n * In::size), fn::UpsampleBackward<T>{dy, dx, H, W, S});
  }
};

// ------------------------------------------------------------------ Reparameterize
// ε comes from the model's noise stream on the host — the CPU layer's draws, in its order, so a
// device model and a CPU model with one seed sample the same z — and is copied to the device.
template <class T, class Mu, class LogVar>
struct layer<ReparameterizeLayer<T, Mu, LogVar>> : leaf<ReparameterizeLayer<T, Mu, LogVar>> {
  static constexpr index_t D = Mu::size;
  Rng own{0x5eed};
  Rng* rng = &own;
  bool sample = true;
  Buffer<T> eps_host;
  DeviceBuffer<T> eps, sd;
  void bind_rng(Rng* r) { rng = r ? r : &own; }
  void resize(std::size_t n) {
    eps_host.resize(n * D);
    eps.resize(n * D);
    sd.resize(n * D);
  }
  void forward(const std::array<const T*, 2>& x, T* z, std::size_t n) {
    if (eps.size() < n * D) resize(n);
    if (sample) rng->fill_normal(eps_host.data(), n * D);
    else std::fill(eps_host.data(), eps_host.data() + n * D, T(0));
    copy_to_device(eps_host.data(), n * D, eps.data());
    launch(static_cast<index_t>(n) * D, fn::ReparamForward<T>{x[0], x[1], eps.data(), sd.data(), z});
  }
  void backward(const std::array<const T*, 2>&, const T*, const T* dz, const std::array<T*, 2>& dx,
                std::size_t n) {
    const index_t m = static_cast<index_t>(n) * D;
    if (dx[0]) add_to(dz, static_cast<std::size_t>(m), dx[0]);
    if (dx[1]) launch(m, fn::ReparamGradLv<T>{dz, sd.data(), eps.data(), dx[1]});
  }
};

}  // namespace zoo::cuda

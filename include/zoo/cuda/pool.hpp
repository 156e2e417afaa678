// zoo/cuda/pool.hpp — MaxPool2d and AvgPool2d on the device, with the CPU layers' rules:
// max takes the first maximum in row order (a NaN wins, as in PyTorch) and keeps its index
// for backward; average divides by the window clipped to the padded image
// (count_include_pad). Backward gathers: one index per input value sums, in output order,
// the gradients of the windows that take it, so it needs no atomics and adds in the CPU's order.
#pragma once
#include <cstdint>

#include "../layers/pool.hpp"
#include "layers.hpp"

namespace zoo::cuda {

struct PoolGeom {
  index_t H, W, KH, KW, SH, SW, PH, PW, OH, OW;
  // The outputs whose windows hold row h: oh in [lo, hi].
  ZOO_HD void rows_of(index_t h, index_t& lo, index_t& hi) const {
    const index_t t = h + PH;
    lo = t < KH ? 0 : (t - KH) / SH + 1;
    hi = t / SH;
    if (hi > OH - 1) hi = OH - 1;
  }
  ZOO_HD void cols_of(index_t w, index_t& lo, index_t& hi) const {
    const index_t t = w + PW;
    lo = t < KW ? 0 : (t - KW) / SW + 1;
    hi = t / SW;
    if (hi > OW - 1) hi = OW - 1;
  }
};
template <class... A>
constexpr PoolGeom pool_geom(A... a) {
  return PoolGeom{static_cast<index_t>(a)...};
}

namespace fn {
template <class T>
struct MaxPoolForward {
  PoolGeom g;
  const T* x;
  T* y;
  std::int32_t* arg;  // or null (inference)
  ZOO_HD void operator()(index_t i) const {
    const index_t ow = i % g.OW, oh = (i / g.OW) % g.OH, pl = i / (g.OW * g.OH);
    const index_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
    const index_t hb = h0 < 0 ? 0 : h0, he = h0 + g.KH < g.H ? h0 + g.KH : g.H;
    const index_t wb = w0 < 0 ? 0 : w0, we = w0 + g.KW < g.W ? w0 + g.KW : g.W;
    const T* xp = x + pl * g.H * g.W;
    index_t best = hb * g.W + wb;  // the CPU's start (−∞, then the first value) in one step
    T m = xp[best];
    for (index_t h = hb; h < he; ++h)
      for (index_t w = wb; w < we; ++w) {
        const T v = xp[h * g.W + w];
        const bool take = v > m || v != v;
        m = take ? v : m;
        best = take ? h * g.W + w : best;
      }
    y[i] = m;
    if (arg) arg[i] = static_cast<std::int32_t>(best);
  }
};
template <class T>
struct MaxPoolBackward {  // dx[pl, h, w] += Σ dy of the windows whose maximum is (h, w)
  PoolGeom g;
  const T* dy;
  const std::int32_t* arg;
  T* dx;
  ZOO_HD void operator()(index_t i) const {
    const index_t w = i % g.W, h = (i / g.W) % g.H, pl = i / (g.W * g.H);
    index_t h0, h1, w0, w1;
    g.rows_of(h, h0, h1);
    g.cols_of(w, w0, w1);
    const index_t self = h * g.W + w, base = pl * g.OH * g.OW;
    T acc = T(0);
    for (index_t oh = h0; oh <= h1; ++oh)
      for (index_t ow = w0; ow <= w1; ++ow)
        if (arg[base + oh * g.OW + ow] == self) acc += dy[base + oh * g.OW + ow];
    dx[i] += acc;
  }
};
template <class T>
ZOO_HD inline void avg_window(const PoolGeom& g, index_t oh, index_t ow, index_t& hb, index_t& he,
                              index_t& wb, index_t& we, T& count) {
  const index_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
  const index_t h1 = h0 + g.KH < g.H + g.PH ? h0 + g.KH : g.H + g.PH;
  const index_t w1 = w0 + g.KW < g.W + g.PW ? w0 + g.KW : g.W + g.PW;
  count = static_cast<T>(static_cast<double>((h1 - h0) * (w1 - w0)));
  hb = h0 < 0 ? 0 : h0, he = h1 < g.H ? h1 : g.H;
  wb = w0 < 0 ? 0 : w0, we = w1 < g.W ? w1 : g.W;
}
template <class T>
struct AvgPoolForward {
  PoolGeom g;
  const T* x;
  T* y;
  ZOO_HD void operator()(index_t i) const {
    const index_t ow = i % g.OW, oh = (i / g.OW) % g.OH, pl = i / (g.OW * g.OH);
    index_t hb, he, wb, we;
    T count;
    avg_window(g, oh, ow, hb, he, wb, we, count);
    const T* xp = x + pl * g.H * g.W;
    T s = T(0);
    for (index_t h = hb; h < he; ++h)
      for (index_t w = wb; w < we; ++w) s += xp[h * g.W + w];
    y[i] = s / count;
  }
};
template <class T>
struct AvgPoolBackward {
  PoolGeom g;
  const T* dy;
  T* dx;
  ZOO_HD void operator()(index_t i) const {
    const index_t w = i % g.W, h = (i / g.W) % g.H, pl = i / (g.W * g.H);
    index_t h0, h1, w0, w1;
    g.rows_of(h, h0, h1);
    g.cols_of(w, w0, w1);
    const index_t base = pl * g.OH * g.OW;
    T acc = T(0);
    for (index_t oh = h0; oh <= h1; ++oh)
      for (index_t ow = w0; ow <= w1; ++ow) {
        index_t hb, he, wb, we;
        T count;
        avg_window(g, oh, ow, hb, he, wb, we, count);
        acc += dy[base + oh * g.OW + ow] / count;
      }
    dx[i] += acc;
  }
};
}  // namespace fn

template <class T, class In, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW,
          std::size_t PH, std::size_t PW>
struct layer<MaxPool2dLayer<T, In, KH, KW, SH, SW, PH, PW>>
    : leaf<MaxPool2dLayer<T, In, KH, KW, SH, SW, PH, PW>> {
  using L = MaxPool2dLayer<T, In, KH, KW, SH, SW, PH, PW>;
  static constexpr PoolGeom geom = pool_geom(In::H, In::W, KH, KW, SH, SW, PH, PW, L::OH, L::OW);
  static constexpr std::size_t train_values() { return L::train_values(); }
  DeviceBuffer<std::int32_t> argmax;  // (N, C, OH, OW), index into the (H, W) plane
  void resize(std::size_t n) { argmax.resize(n * L::output_shape::size); }
  void forward(const T* x, T* y, std::size_t n) {
    if (argmax.size() < n * L::output_shape::size) resize(n);
    launch(static_cast<index_t>(n * L::output_shape::size),
           fn::MaxPoolForward<T>{geom, x, y, argmax.data()});
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n * In::size), fn::MaxPoolBackward<T>{geom, dy, argmax.data(), dx});
  }
};

template <class T, class In, std::size_t KH, std::size_t KW, std::size_t SH, std::size_t SW,
          std::size_t PH, std::size_t PW>
struct layer<AvgPool2dLayer<T, In, KH, KW, SH, SW, PH, PW>>
    : leaf<AvgPool2dLayer<T, In, KH, KW, SH, SW, PH, PW>> {
  using L = AvgPool2dLayer<T, In, KH, KW, SH, SW, PH, PW>;
  static constexpr PoolGeom geom = pool_geom(In::H, In::W, KH, KW, SH, SW, PH, PW, L::OH, L::OW);
  void forward(const T* x, T* y, std::size_t n) {
    launch(static_cast<index_t>(n * L::output_shape::size), fn::AvgPoolForward<T>{geom, x, y});
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n * In::size), fn::AvgPoolBackward<T>{geom, dy, dx});
  }
};

}  // namespace zoo::cuda

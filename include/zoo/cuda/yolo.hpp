// zoo/cuda/yolo.hpp — the device layers of YOLOv5's own modules (models/yolo/modules.hpp):
// YoloAKConv (AKConv with YOLOv5's BatchNorm settings) and Detect (a 1×1 conv per level,
// permuted to rows of NC + 5 values, decoded to boxes in eval mode). Conv, C3, SPPF and the
// Yolo graph are containers and bind for the device by themselves.
//
// The loss (yolo::ComputeLoss), NMS and mAP stay on the host: a training step copies Detect's
// output (batch × rows × (NC + 5) values, 0.4 MB for 16 images of 128²) to the host for the
// loss and its gradient back — what a device version would save is that copy.
#pragma once
#include <tuple>

#include "../models/yolo/modules.hpp"
#include "conv.hpp"

namespace zoo::cuda {

template <class T, class In, std::size_t Out, std::size_t N, std::size_t S, AKConvSampling Mode>
struct layer<yolo::YoloAKConvLayer<T, In, Out, N, S, Mode>> : layer<AKConvLayer<T, In, Out, N, S, Mode>> {
  layer() { this->bn.options = yolo::YoloAKConvLayer<T, In, Out, N, S, Mode>{}.bn.options; }
};

namespace fn {
// Level l's map z (N, na·no, P) → its rows of the output (N, rows, no), decoded in eval
// mode as DetectLayer::permute_out decodes them.
template <class T>
struct DetectRows {
  const T* z;
  T* y;
  const T* anchors;  // this level's (na, 2), grid units
  index_t na, no, P, NX, row_start, stride;
  T s;
  bool decode;
  ZOO_HD void operator()(index_t i) const {
    const index_t o = i % no, p = (i / no) % P, a = (i / (no * P)) % na, b = i / (no * P * na);
    T v = z[(b * na + a) * no * P + o * P + p];
    if (decode) v = yolo::detect_decode(v, o, p % NX, p / NX, s, anchors[a * 2] * s, anchors[a * 2 + 1] * s);
    y[b * stride + (row_start + a * P + p) * no + o] = v;
  }
};
template <class T>
struct DetectGrad {  // the rows' gradient back to the map layout
  const T* dy;
  T* dz;
  index_t na, no, P, row_start, stride;
  ZOO_HD void operator()(index_t i) const {
    const index_t p = i % P, ao = (i / P) % (na * no), b = i / (P * na * no);
    const index_t a = ao / no, o = ao % no;
    dz[i] = dy[b * stride + (row_start + a * P + p) * no + o];
  }
};
}  // namespace fn

template <class T, class AnchorsT, class StridesT, std::size_t NC, class... Ins>
struct layer<yolo::DetectLayer<T, AnchorsT, StridesT, NC, Ins...>>
    : leaf<yolo::DetectLayer<T, AnchorsT, StridesT, NC, Ins...>> {
  using L = yolo::DetectLayer<T, AnchorsT, StridesT, NC, Ins...>;
  static constexpr std::size_t nl = L::nl;
  static constexpr index_t na = L::na, no = L::no, stride = L::rows * L::no;
  std::tuple<layer<typename L::template Head<Ins>>...> m;
  T* anchors = nullptr;  // (nl, na, 2), device
  bool training = true;
  std::array<DeviceBuffer<T>, nl> z, dz;

  template <class F>
  void each_level(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::integral_constant<std::size_t, I>{}, std::get<I>(m)), ...);
    }(std::make_index_sequence<nl>{});
  }
  void bind_params(T*& p, T*& g) {
    each_level([&](auto, auto& h) { h.bind_params(p, g); });
  }
  void bind_buffers(T*& b) {
    anchors = b;
    b += L::num_buffers;
  }
  void set_training(bool t) { training = t; }
  void set_frozen(bool f) {
    each_level([&](auto, auto& h) { h.set_frozen(f); });
  }
  void resize(std::size_t n) {
    each_level([&](auto l, auto& h) {
      z[l].resize(n * na * no * L::cells[l]);
      dz[l].resize(n * na * no * L::cells[l]);
      h.resize(n);
    });
  }
  void forward(const std::array<const T*, nl>& x, T* y, std::size_t n) {
    if (z[0].size() < n * na * no * L::cells[0]) resize(n);
    each_level([&](auto l, auto& h) {
      constexpr index_t P = L::cells[l];
      h.forward(x[l], z[l].data(), n);
      launch(static_cast<index_t>(n) * na * P * no,
             fn::DetectRows<T>{z[l].data(), y, anchors + l * na * 2, na, no, P,
                               static_cast<index_t>(L::nx[l]), static_cast<index_t>(L::row_start[l]),
                               stride, T(StridesT::value[l]), !training});
    });
  }
  void backward(const std::array<const T*, nl>& x, const T*, const T* dy,
                const std::array<T*, nl>& dx, std::size_t n) {
    if (!training)
      throw std::logic_error(
          "zoo::yolo::Detect: backward needs the training-mode output (raw maps); call "
          "model.train() before the forward pass whose gradient you want");
    each_level([&](auto l, auto& h) {
      constexpr index_t P = L::cells[l];
      launch(static_cast<index_t>(n) * na * no * P,
             fn::DetectGrad<T>{dy, dz[l].data(), na, no, P, static_cast<index_t>(L::row_start[l]), stride});
      h.backward(x[l], z[l].data(), dz[l].data(), dx[l], n);
    });
  }
};

}  // namespace zoo::cuda

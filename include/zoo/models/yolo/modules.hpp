// zoo/models/yolo/modules.hpp — the building blocks of YOLOv5 (v7.0 models/common.py and
// models/yolo.py) as zoo specs, with YOLOv5's state_dict names.
//
//   Conv<C2, K, S, P>      conv (Conv2d, no bias, padding K/2) → bn (eps 1e-3, momentum 0.03) → act (SiLU)
//   Bottleneck<C2, sc, E>  cv1 1×1 to ⌊C2·E⌋ → cv2 3×3 to C2, plus the input when sc and C1 == C2
//   C3<C2, N, sc>          cv3(cat(m(cv1(x)), cv2(x))), m = N Bottlenecks at E = 1, cv1/cv2 to ⌊C2/2⌋
//   SPPF<C2, K>            cv2(cat(y0, y1, y2, y3)), y0 = cv1(x) at C1/2, y_{i+1} = maxpool_K,1,K/2(y_i)
//   YoloAKConv<C2, N, S>   zoo::AKConv with YOLOv5's BatchNorm eps/momentum (the AKConv variant's rows)
//   Detect<NC, Anchors>    per level a 1×1 conv (bias) to na·(NC + 5); see DetectLayer
//
// Each block is a Graph, so a parameter's name is its path of node names, exactly the
// PyTorch attribute path: model.2.m.0.cv1.conv.weight, model.9.cv2.bn.running_var.
#pragma once
#include <array>
#include <cmath>
#include <cstddef>
#include <ratio>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../core/fixed_string.hpp"
#include "../../core/layer.hpp"
#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"
#include "../../core/tensor.hpp"
#include "../../graph/graph.hpp"
#include "../../graph/sequential.hpp"
#include "../../layers/activations.hpp"
#include "../../layers/akconv.hpp"
#include "../../layers/batch_norm.hpp"
#include "../../layers/concat.hpp"
#include "../../layers/conv2d.hpp"
#include "../../layers/elementwise.hpp"
#include "../../layers/pool.hpp"
#include "../../layers/upsample.hpp"

namespace zoo::yolo {

namespace detail {
// A block's layer under its YOLOv5 class name, for summaries (a Graph calls itself "Graph").
template <class Base, fixed_string Name>
struct named : Base {
  static constexpr const char* name() { return Name.value; }
};
}  // namespace detail

// YOLOv5 sets every BatchNorm2d to eps 1e-3, momentum 0.03 (utils/torch_utils.py
// initialize_weights); PyTorch's defaults are 1e-5 and 0.1.
using BN = BatchNormWith<std::ratio<1, 1000>, std::ratio<3, 100>>;

// Conv(c1, c2, k, s, p): Conv2d without bias, BatchNorm, SiLU; autopad = k // 2.
template <std::size_t C2, std::size_t K = 1, std::size_t S = 1, std::size_t P = K / 2>
struct Conv {
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  using graph = Graph<Node<"conv", Conv2d<C2, K, S, P, 1, 1, false>>, Node<"bn", BN>,
                      Node<"act", SiLU>>;
  template <class T, class In>
  using bind = detail::named<typename graph::template bind<T, In>, "Conv">;
};

namespace detail {
template <std::size_t C, class E>
inline constexpr std::size_t scaled_channels = C * E::num / E::den;  // Python's int(c·e)

template <std::size_t N, class Spec, class... Acc>
struct repeat_seq {
  using type = typename repeat_seq<N - 1, Spec, Acc..., Spec>::type;
};
template <class Spec, class... Acc>
struct repeat_seq<0, Spec, Acc...> {
  using type = Sequential<Acc...>;
};
}  // namespace detail

// N copies of Spec in a Sequential (named 0, 1, …, as nn.Sequential(*[... for _ in range(n)])).
template <std::size_t N, class Spec>
using Repeat = typename detail::repeat_seq<N, Spec>::type;

// Bottleneck(c1, c2, shortcut, e): the residual needs c1 == c2, which only binding knows.
template <std::size_t C2, bool Shortcut = true, class E = std::ratio<1, 2>>
struct Bottleneck {
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  static constexpr std::size_t hidden = detail::scaled_channels<C2, E>;
  using plain = Graph<Node<"cv1", Conv<hidden, 1>>, Node<"cv2", Conv<C2, 3>>>;
  using residual = Graph<Inputs<"x">, Node<"cv1", Conv<hidden, 1>>, Node<"cv2", Conv<C2, 3>>,
                         Node<"add", Add, from<"x", "cv2">>>;
  template <class T, class In>
  using bind = detail::named<typename std::conditional_t<Shortcut && In::C == C2, residual,
                                                         plain>::template bind<T, In>,
                             "Bottleneck">;
};

// C3(c1, c2, n, shortcut, e = 0.5): CSP bottleneck with three convolutions.
template <std::size_t C2, std::size_t N = 1, bool Shortcut = true, class E = std::ratio<1, 2>>
struct C3 {
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  static_assert(N >= 1, "zoo::yolo::C3<C2, N>: N (the number of Bottlenecks) must be at least 1");
  static constexpr std::size_t hidden = detail::scaled_channels<C2, E>;
  using graph = Graph<Inputs<"x">,                                                 //
                      Node<"cv1", Conv<hidden, 1>>,                                //
                      Node<"m", Repeat<N, Bottleneck<hidden, Shortcut, std::ratio<1>>>>,  //
                      Node<"cv2", Conv<hidden, 1>, from<"x">>,                     //
                      Node<"cat", Concat, from<"m", "cv2">>,                       //
                      Node<"cv3", Conv<C2, 1>>>;
  template <class T, class In>
  using bind = detail::named<typename graph::template bind<T, In>, "C3">;
};

// SPPF(c1, c2, k = 5): three chained stride-1 max-pools stand for SPP's 5, 9, 13 pools.
// The pools have no parameters, so their node names (y1…y3) appear nowhere.
template <std::size_t C2, std::size_t K = 5>
struct SPPF {
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  template <std::size_t Hidden>
  using graph = Graph<Node<"cv1", Conv<Hidden, 1>>,                 //
                      Node<"m", MaxPool2d<K, 1, K / 2>>,            //
                      Node<"y2", MaxPool2d<K, 1, K / 2>>,           //
                      Node<"y3", MaxPool2d<K, 1, K / 2>>,           //
                      Node<"cat", Concat, from<"cv1", "m", "y2", "y3">>,  //
                      Node<"cv2", Conv<C2, 1>>>;
  template <class T, class In>
  using bind = detail::named<typename graph<(In::C / 2 > 0 ? In::C / 2 : 1)>::template bind<T, In>,
                             "SPPF">;
};

// AKConv in a YOLOv5 network: its BatchNorm takes YOLOv5's eps and momentum, as every
// BatchNorm2d of the model does after initialize_weights.
template <class T, class In, std::size_t Out, std::size_t N, std::size_t S, AKConvSampling Mode>
struct YoloAKConvLayer : AKConvLayer<T, In, Out, N, S, Mode> {
  YoloAKConvLayer() { this->bn.options = {1e-3, 0.03}; }
};
template <std::size_t C2, std::size_t N, std::size_t S = 1,
          AKConvSampling Sampling = AKConvSampling::clamp_to_edge>
struct YoloAKConv {
  template <class T, class In>
  using bind = YoloAKConvLayer<T, In, C2, N, S, Sampling>;
};

// Anchor boxes in pixels, NA per level, levels from the finest: YOLOv5's P3–P5 set
// (models/yolov5n.yaml) is Anchors<3, 10,13, 16,30, 33,23, 30,61, 62,45, 59,119,
// 116,90, 156,198, 373,326>.
template <std::size_t NA, std::size_t... WH>
struct Anchors {
  static_assert(NA > 0 && sizeof...(WH) % (2 * NA) == 0,
                "zoo::yolo::Anchors<NA, w, h, ...>: give NA (w, h) pairs per level");
  static constexpr std::size_t na = NA;
  static constexpr std::size_t nl = sizeof...(WH) / (2 * NA);
  static constexpr std::array<double, sizeof...(WH)> pixels{double(WH)...};
};
using AnchorsP5 = Anchors<3, 10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198,
                          373, 326>;

template <std::size_t... S>
struct Strides {
  static constexpr std::array<std::size_t, sizeof...(S)> value{S...};
};

// Value o of one eval-mode row of cell (col, row), from its raw output v: YOLOv5's eval decode (Detect, below), shared by the CPU layer and the CUDA backend's (cuda/yolo.hpp). s is the level's
// stride, aw/ah the anchor in pixels.
template <class T, class I>
ZOO_HD inline T detect_decode(T v, I o, I col, I row, T s, T aw, T ah) {
  v = T(1) / (T(1) + act::vm::exp(-v));
  if (o == 0) return (v * 2 - T(0.5) + T(col)) * s;
  if (o == 1) return (v * 2 - T(0.5) + T(row)) * s;
  if (o == 2) return (v * 2) * (v * 2) * aw;
  if (o == 3) return (v * 2) * (v * 2) * ah;
  return v;
}

// Detect: per level l, z_l = Conv2d 1×1 (C_l → na·no, bias)(x_l), no = NC + 5, viewed as
// (na, no, ny, nx) and permuted to (na, ny, nx, no) — YOLOv5's training output. One
// sample's output is the levels one after another, Σ na·ny·nx rows of no values: the
// layout of Detect's inference output torch.cat(z, 1). In eval mode each row is decoded:
//   xy = (2σ(t_xy) − 0.5 + (col, row))·stride,  wh = (2σ(t_wh))²·anchor (pixels),
//   obj, classes = σ(t).
// Parameters m.<l>.weight/bias; buffer `anchors` (nl, na, 2) in grid units (pixels /
// stride), as YOLOv5's Model divides them. Backward is that of the training output.
template <class T, class AnchorsT, class StridesT, std::size_t NC, class... Ins>
struct DetectLayer {
  static constexpr std::size_t nl = sizeof...(Ins);
  static constexpr std::size_t na = AnchorsT::na;
  static constexpr std::size_t nc = NC;
  static constexpr std::size_t no = NC + 5;
  static constexpr bool images = (is_image_v<Ins> && ...);
  static constexpr bool levels_match = AnchorsT::nl == nl && StridesT::value.size() == nl;
  static constexpr bool bind_ok = images && levels_match;
  static constexpr bool check() {
    static_assert(images, "zoo::yolo::Detect: every level it reads must be an image (C, H, W)");
    static_assert(levels_match,
                  "zoo::yolo::Detect: it reads a different number of levels than its Anchors and "
                  "Strides describe (one anchor set and one stride per level it reads)");
    return bind_ok;
  }
  static constexpr std::size_t arity = nl;
  using input_shapes = type_list<Ins...>;
  using input_shape = type_at_t<0, input_shapes>;
  static constexpr std::array<std::size_t, nl> ny{Ins::H...};
  static constexpr std::array<std::size_t, nl> nx{Ins::W...};
  static constexpr std::array<std::size_t, nl> cells{(Ins::H * Ins::W)...};
  // Where level l's rows start within one sample's output (in rows of `no`).
  static constexpr std::array<std::size_t, nl + 1> row_start = [] {
    std::array<std::size_t, nl + 1> r{};
    for (std::size_t l = 0; l < nl; ++l) r[l + 1] = r[l] + na * cells[l];
    return r;
  }();
  static constexpr std::size_t rows = row_start[nl];
  using output_shape = Shape<rows * no>;
  template <class In>
  using Head = Conv2dLayer<T, In, na * no, 1, 1, 1, 1, 0, 0, 1, 1, 1, true>;
  static constexpr std::size_t num_params = (Head<Ins>::num_params + ...);
  static constexpr std::size_t num_buffers = nl * na * 2;
  static constexpr double flops = (Head<Ins>::flops + ...);
  static constexpr const char* name() { return "Detect"; }

  std::tuple<Head<Ins>...> m;
  T* anchors = nullptr;  // (nl, na, 2), grid units
  bool training = true;
  std::array<Buffer<T>, nl> z, dz;  // (N, na·no, ny, nx) per level

  template <std::size_t L>
  auto& head() {
    return std::get<L>(m);
  }
  template <class F>
  void each_level(F&& f) {
    [&]<std::size_t... L>(std::index_sequence<L...>) {
      (f(std::integral_constant<std::size_t, L>{}, std::get<L>(m)), ...);
    }(std::make_index_sequence<nl>{});
  }
  void bind_params(T*& p, T*& g) {
    each_level([&](auto, auto& h) { h.bind_params(p, g); });
  }
  void bind_buffers(T*& b) {
    anchors = b;
    b += num_buffers;
  }
  // PyTorch's default init of the heads, then YOLOv5's _initialize_biases: objectness
  // starts at 8 objects per 640² image, classes at probability 0.6/nc.
  void init(Rng& rng) {
    each_level([&](auto L, auto& h) {
      h.init(rng);
      const double s = double(StridesT::value[L]);
      for (std::size_t a = 0; a < na; ++a) {
        h.bias[a * no + 4] += T(std::log(8.0 / ((640.0 / s) * (640.0 / s))));
        for (std::size_t c = 0; c < nc; ++c)
          h.bias[a * no + 5 + c] += T(std::log(0.6 / (double(nc) - 0.99999)));
      }
    });
    for (std::size_t l = 0; l < nl; ++l)
      for (std::size_t i = 0; i < 2 * na; ++i)
        anchors[l * 2 * na + i] = T(AnchorsT::pixels[l * 2 * na + i] / double(StridesT::value[l]));
  }
  void set_training(bool t) { training = t; }
  void set_frozen(bool f) {
    each_level([&](auto, auto& h) { h.set_frozen(f); });
  }
  void resize(std::size_t n) {
    each_level([&](auto L, auto& h) {
      z[L].resize(n * na * no * cells[L]);
      dz[L].resize(n * na * no * cells[L]);
      h.resize(n);
    });
  }

  void forward(const std::array<const T*, nl>& x, T* y, std::size_t n) {
    each_level([&](auto L, auto& h) {
      h.forward(x[L], z[L].data(), n);
      permute_out<L>(y, n);
    });
  }
  void backward(const std::array<const T*, nl>& x, const T*, const T* dy,
                const std::array<T*, nl>& dx, std::size_t n) {
    if (!training)
      throw std::logic_error(
          "zoo::yolo::Detect: backward needs the training-mode output (raw maps); call "
          "model.train() before the forward pass whose gradient you want");
    each_level([&](auto L, auto& h) {
      constexpr std::size_t P = cells[L];
      const std::size_t stride = rows * no;
      parallel_for(n, na * no * P, [&](std::size_t b0, std::size_t b1) {
        for (std::size_t b = b0; b < b1; ++b) {
          const T* d = dy + b * stride + row_start[L] * no;
          T* g = dz[L].data() + b * na * no * P;
          for (std::size_t a = 0; a < na; ++a)
            for (std::size_t p = 0; p < P; ++p)
              for (std::size_t o = 0; o < no; ++o) g[(a * no + o) * P + p] = d[(a * P + p) * no + o];
        }
      });
      h.backward(x[L], z[L].data(), dz[L].data(), dx[L], n);
    });
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    each_level([&](auto L, auto& h) {
      h.visit_params(layer_ops::join(prefix, "m." + std::to_string(L)), f);
    });
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "anchors"), std::vector<std::size_t>{nl, na, 2}, anchors,
      num_buffers);
  }

 private:
  template <std::size_t L>
  void permute_out(T* y, std::size_t n) {
    constexpr std::size_t P = cells[L], NX = nx[L];
    const std::size_t stride = rows * no;
    const T s = T(StridesT::value[L]);
    parallel_for(n, na * no * P, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) {
        const T* src = z[L].data() + b * na * no * P;
        T* dst = y + b * stride + row_start[L] * no;
        for (std::size_t a = 0; a < na; ++a) {
          const T aw = anchors[(L * na + a) * 2] * s, ah = anchors[(L * na + a) * 2 + 1] * s;
          for (std::size_t p = 0; p < P; ++p) {
            T* row = dst + (a * P + p) * no;
            for (std::size_t o = 0; o < no; ++o) row[o] = src[(a * no + o) * P + p];
            if (!training)
              for (std::size_t o = 0; o < no; ++o)
                row[o] = detect_decode(row[o], o, p % NX, p / NX, s, aw, ah);
          }
        }
      }
    });
  }
};

// Detect<NC, Anchors, Strides>: reads one map per level (from<...> in YOLOv5's order, finest
// first); the strides are the levels' downsampling factors (8, 16, 32 for P3–P5).
template <std::size_t NC, class AnchorsT = AnchorsP5, class StridesT = Strides<8, 16, 32>>
struct Detect {
  static_assert(NC >= 1, "zoo::yolo::Detect<NC>: a detector needs at least one class");
  static constexpr std::size_t arity = AnchorsT::nl;
  template <class T, class... Ins>
  using bind = DetectLayer<T, AnchorsT, StridesT, NC, Ins...>;
};

}  // namespace zoo::yolo

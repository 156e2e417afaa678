// zoo/models/diffusion/blocks.hpp — the building blocks of the diffusion
// course's ContextUnet ("How Diffusion Models Work", DeepLearning.AI), as specs
// used as one Graph node each, so parameter names nest as PyTorch's do.
//
//   ResidualConvBlock<Out, IsRes>   x: (C, H, W) → (Out, H, W)
//     conv1 = Conv2d(C, Out, 3, 1, 1) BatchNorm2d GELU;  conv2 = the same on Out
//     IsRes:  y = (x + conv2(conv1(x))) / 1.414                   when C == Out
//             y = (shortcut(x) + conv2(conv1(x))) / 1.414         shortcut = Conv2d(C, Out, 1)
//     else:   y = conv2(conv1(x))
//   The course builds its 1×1 shortcut anew (fresh random weights) on every
//   forward call, so it is never trained; here it is an ordinary learned layer
//   named `shortcut` (docs/models/diffusion.md).
//
//   UnetDown<Out>   model = [ResidualConvBlock(C, Out), ResidualConvBlock(Out, Out), MaxPool2d(2)]
//   UnetUp<Out>     (x, skip) → cat → model = [ConvTranspose2d(·, Out, 2, 2),
//                                              ResidualConvBlock(Out, Out) ×2]
//   EmbedFC<Emb>    model = [Linear(F, Emb), GELU, Linear(Emb, Emb)]    (N, F) → (N, Emb)
//
//   Scale<Num, Den>  y = (Num/Den)·x,  dx += (Num/Den)·dy   (the residual's /1.414 is
//                    Scale<1000, 1414>); no parameters, no cache.
#pragma once
#include <cstdint>
#include <string>

#include "../../core/config.hpp"
#include "../../core/layer.hpp"
#include "../../core/parallel.hpp"
#include "../../graph/graph.hpp"
#include "../../graph/sequential.hpp"
#include "../../layers/activations.hpp"
#include "../../layers/batch_norm.hpp"
#include "../../layers/concat.hpp"
#include "../../layers/conv2d.hpp"
#include "../../layers/conv_transpose2d.hpp"
#include "../../layers/elementwise.hpp"
#include "../../layers/linear.hpp"
#include "../../layers/pool.hpp"

namespace zoo::models::diffusion {

template <class T, class In, std::intmax_t Num, std::intmax_t Den>
struct ScaleLayer {
  static constexpr double S = static_cast<double>(Num) / static_cast<double>(Den);
  using input_shape = In;
  using output_shape = In;
  static constexpr double flops = In::size;
  static constexpr const char* name() { return "Scale"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;

  static constexpr bool inplace = true;  // y may be x (a planned inference)
  void forward(const T* x, T* y, std::size_t n) {
    const std::size_t m = n * In::size;
    parallel_for(m, 1, [&](std::size_t b, std::size_t e) {
#pragma omp simd
      for (std::size_t i = b; i < e; ++i) y[i] = T(S) * x[i];
    });
  }
  void backward(const T*, const T*, const T* ZOO_RESTRICT dy, T* ZOO_RESTRICT dx, std::size_t n) {
    if (!dx) return;
    const std::size_t m = n * In::size;
    parallel_for(m, 1, [&](std::size_t b, std::size_t e) {
#pragma omp simd
      for (std::size_t i = b; i < e; ++i) dx[i] += T(S) * dy[i];
    });
  }
};

// y = (Num/Den)·x, a constant factor as a layer (the course's `out / 1.414`). An exact
// ratio rather than a double template argument, which clang before 18 rejects.
template <std::intmax_t Num, std::intmax_t Den = 1>
struct Scale {
  static_assert(Den != 0, "zoo::Scale<Num, Den>: the denominator is zero");
  template <class T, class In>
  using bind = ScaleLayer<T, In, Num, Den>;
};

// Conv2d(·, Out, 3, 1, 1) BatchNorm2d GELU, as the course's conv1/conv2 Sequentials.
template <std::size_t Out>
using ConvBnGelu = Sequential<Conv2d<Out, 3, 1, 1>, BatchNorm, GELU>;

using ResidualScale = Scale<1000, 1414>;  // the course's `/ 1.414`, not 1/√2

namespace detail {
template <std::size_t Out, bool IsRes, bool Same>
struct residual_graph;
template <std::size_t Out, bool Same>
struct residual_graph<Out, false, Same> {
  using type = Graph<Inputs<"x">,
                     Node<"conv1", ConvBnGelu<Out>>,   // (N, Out, H, W)
                     Node<"conv2", ConvBnGelu<Out>>>;  // (N, Out, H, W)
};
template <std::size_t Out>
struct residual_graph<Out, true, true> {
  using type = Graph<Inputs<"x">,
                     Node<"conv1", ConvBnGelu<Out>>,
                     Node<"conv2", ConvBnGelu<Out>>,
                     Node<"sum", Add, from<"x", "conv2">>,
                     Node<"scale", ResidualScale>>;  // (N, Out, H, W)
};
template <std::size_t Out>
struct residual_graph<Out, true, false> {
  using type = Graph<Inputs<"x">,
                     Node<"conv1", ConvBnGelu<Out>>,
                     Node<"conv2", ConvBnGelu<Out>>,
                     Node<"shortcut", Conv2d<Out, 1>, from<"x">>,  // learned, unlike the course's
                     Node<"sum", Add, from<"shortcut", "conv2">>,
                     Node<"scale", ResidualScale>>;
};
}  // namespace detail

// ResidualConvBlock(in, Out, is_res); in-channels come from the input.
template <std::size_t Out, bool IsRes = false>
struct ResidualConvBlock {
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  template <class T, class In>
  using bind = bind_t<typename detail::residual_graph<Out, IsRes, In::C == Out>::type, T, In>;
};

template <std::size_t Out>
using UnetDown = Graph<Node<"model", Sequential<ResidualConvBlock<Out>, ResidualConvBlock<Out>,
                                                MaxPool2d<2>>>>;  // (N, Out, H/2, W/2)

template <std::size_t Out>
using UnetUp = Graph<Inputs<"x", "skip">,
                     Node<"cat", Concat, from<"x", "skip">>,
                     Node<"model", Sequential<ConvTranspose2d<Out, 2, 2>,  // (N, Out, 2H, 2W)
                                              ResidualConvBlock<Out>, ResidualConvBlock<Out>>>>;

template <std::size_t Emb>
using EmbedFC = Graph<Node<"model", Sequential<Linear<Emb>, GELU, Linear<Emb>>>>;  // (N, Emb)

}  // namespace zoo::models::diffusion

// zoo/models/diffusion/context_unet.hpp — the noise-prediction network of the
// diffusion course (DeepLearning.AI, "How Diffusion Models Work"): a small UNet
// conditioned on the time t/T and a context vector c (one-hot class, or zeros).
//
//   inputs  x: (N, C, H, H)   t: (N, 1)   c: (N, n_cfeat)        output ε̂: (N, C, H, H)
//
//   init_conv     ResidualConvBlock(C, nf, is_res)          (N, nf, H, H)
//   down1         UnetDown(nf, nf)                           (N, nf, H/2, H/2)
//   down2         UnetDown(nf, 2nf)                          (N, 2nf, H/4, H/4)
//   to_vec        AvgPool2d(H/4) GELU                        (N, 2nf, 1, 1)
//   timeembed1/2  EmbedFC(1, 2nf) / EmbedFC(1, nf)           (N, 2nf) / (N, nf)
//   contextembed1/2 EmbedFC(n_cfeat, 2nf) / (n_cfeat, nf)
//   up0           ConvTranspose2d(2nf, 2nf, H/4, H/4) GroupNorm(8, 2nf) ReLU   (N, 2nf, H/4, H/4)
//   up1           UnetUp(4nf, nf) on (cemb1·up0 + temb1, down2)                (N, nf, H/2, H/2)
//   up2           UnetUp(2nf, nf) on (cemb2·up1 + temb2, down1)                (N, nf, H, H)
//   out           Conv2d(2nf, nf, 3, 1, 1) GroupNorm(8, nf) ReLU Conv2d(nf, C, 3, 1, 1)
//                 on cat(up2, init_conv)
// The products cemb·h + temb broadcast one value per channel over H×W (FiLM).
// Parameter names are the course's state_dict keys (init_conv.conv1.0.weight,
// down1.model.0.conv1.0.weight, timeembed1.model.0.weight, up1.model.0.weight, …)
// plus init_conv.shortcut.{weight,bias}, which the course never trains.
// Two deliberate departures, both in docs/models/diffusion.md: the learned
// shortcut, and to_vec pools over the whole H/4×H/4 map (the course's fixed
// AvgPool2d(4) pools only the top-left 4×4 of a 28×28 input's 7×7 map).
#pragma once
#include "../../graph/graph.hpp"
#include "../../graph/model.hpp"
#include "../../layers/group_norm.hpp"
#include "blocks.hpp"

namespace zoo::models::diffusion {

namespace detail {
// The middle of the up path as one nested graph: FiLM (cemb1·up0 + temb1), up1 = UnetUp on
// (film1, down2), FiLM again (cemb2·up1 + temb2). nvcc's cudafe++ takes time exponential in
// the node count of one Graph (docs/compile_times.md); a node named "_…" adds no name of its
// own, so the state_dict keys and the parameter order stay the course's. The stage ends with
// film2 rather than up1 so that up0 and up1 die inside it, as they do in a flat graph: the
// inference arena's peak (up2's, on top) is the same.
template <std::size_t NF>
using unet_film_stage =
    Graph<Inputs<"contextembed1", "up0", "timeembed1", "down2", "contextembed2", "timeembed2">,
          Node<"film1_scale", Mul, from<"contextembed1", "up0">>,   // cemb1 · up0
          Node<"film1", Add, from<"film1_scale", "timeembed1">>,    // … + temb1
          Node<"up1", UnetUp<NF>, from<"film1", "down2">>,          // (N, nf, H/2, H/2)
          Node<"film2_scale", Mul, from<"contextembed2", "up1">>,   // cemb2 · up1
          Node<"film2", Add, from<"film2_scale", "timeembed2">>>;   // … + temb2
template <std::size_t C, std::size_t H, std::size_t NF>
using context_unet_graph = Graph<
    Inputs<"x", "t", "c">,
    Node<"init_conv", ResidualConvBlock<NF, true>, from<"x">>,            // (N, nf, H, H)
    Node<"down1", UnetDown<NF>>,                                          // (N, nf, H/2, H/2)
    Node<"down2", UnetDown<2 * NF>>,                                      // (N, 2nf, H/4, H/4)
    Node<"to_vec", Sequential<AvgPool2d<H / 4>, GELU>>,                   // (N, 2nf, 1, 1)
    Node<"timeembed1", EmbedFC<2 * NF>, from<"t">>,                       // (N, 2nf)
    Node<"timeembed2", EmbedFC<NF>, from<"t">>,                           // (N, nf)
    Node<"contextembed1", EmbedFC<2 * NF>, from<"c">>,                    // (N, 2nf)
    Node<"contextembed2", EmbedFC<NF>, from<"c">>,                        // (N, nf)
    Node<"up0", Sequential<ConvTranspose2d<2 * NF, H / 4, H / 4>, GroupNorm<8>, ReLU>,
         from<"to_vec">>,                                                 // (N, 2nf, H/4, H/4)
    Node<"_film2", unet_film_stage<NF>,
         from<"contextembed1", "up0", "timeembed1", "down2", "contextembed2", "timeembed2">>,
    Node<"up2", UnetUp<NF>, from<"_film2", "down1">>,                     // (N, nf, H, H)
    Node<"cat_out", Concat, from<"up2", "init_conv">>,                    // (N, 2nf, H, H)
    Node<"out", Sequential<Conv2d<NF, 3, 1, 1>, GroupNorm<8>, ReLU, Conv2d<C, 3, 1, 1>>>>;

template <std::size_t NF, std::size_t NC, class X, class Tt, class Cc>
struct context_unet_check {
  static constexpr bool image = is_image_v<X>;
  static_assert(image, "zoo::ContextUnet: the first input x must be an image (C, H, H)");
  static constexpr bool square = !image || X::H == X::W;
  static_assert(square, "zoo::ContextUnet: the image must be square (H == W)");
  static constexpr bool by4 = !image || X::H % 4 == 0;
  static_assert(by4,
                "zoo::ContextUnet: the image height must be divisible by 4 (two 2x2 poolings and "
                "an AvgPool2d(height/4)); 28 (MNIST) and 16 (sprites) work");
  static constexpr bool t_ok = Tt::size == 1;
  static_assert(t_ok, "zoo::ContextUnet: the second input t must be one value per sample, Shape<1>");
  static constexpr bool c_ok = Cc::size == NC && is_flat_v<Cc>;
  static_assert(c_ok,
                "zoo::ContextUnet: the third input c must be Shape<n_cfeat> (a one-hot class "
                "vector, or zeros for no context)");
  static constexpr bool nf_ok = NF % 8 == 0;
  static_assert(nf_ok, "zoo::ContextUnet: n_feat must be a multiple of 8 (GroupNorm(8, n_feat))");
  static constexpr bool ok = image && square && by4 && t_ok && c_ok && nf_ok;
};
}  // namespace detail

// ContextUnet<n_feat, n_cfeat>: in-channels and height come from the x input.
template <std::size_t NFeat = 64, std::size_t NCFeat = 10>
struct ContextUnet {
  static constexpr std::size_t arity = 3;
  static constexpr std::size_t n_feat = NFeat, n_cfeat = NCFeat;
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  template <class T, class X, class Tt, class Cc>
  using bind = typename zoo::detail::bind_if<
      detail::context_unet_check<NFeat, NCFeat, X, Tt, Cc>::ok,
      detail::context_unet_graph<X::C, X::H, NFeat>, T, X, Tt, Cc>::type;
};

// The model type: x (C, H, H), t (1), c (n_cfeat) → ε̂ (C, H, H).
template <std::size_t C, std::size_t H, std::size_t NFeat = 64, std::size_t NCFeat = 10,
          class T = float>
using ContextUnetModel =
    BasicModel<T, ContextUnet<NFeat, NCFeat>, Shape<C, H, H>, Shape<1>, Shape<NCFeat>>;

}  // namespace zoo::models::diffusion

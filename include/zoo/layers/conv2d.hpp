// zoo/layers/conv2d.hpp — 2-D convolution, as torch.nn.Conv2d.
//
//   y[n, o, oh, ow] = b[o] + Σ_{c ∈ group(o), kh, kw} w[o, c, kh, kw] · x[n, g·C/G + c, oh·SH − PH + kh·DH,
//                                                                           ow·SW − PW + kw·DW]
//   x: (N, C, H, W)   w: (Out, C/G, KH, KW)   b: (Out)   y: (N, Out, OH, OW)
//   OH = ⌊(H + 2·PH − DH·(KH − 1) − 1) / SH⌋ + 1   (PyTorch's formula; OW alike)
//
// Per sample and group g, with col = im2col(x) (C/G·KH·KW, OH·OW):
//   forward   y_g  = W_g · col                      (Out/G, OH·OW)
//   backward  dW_g += dy_g · colᵀ,  db += Σ dy,  dx += col2im(W_gᵀ · dy_g)
// The layer says what is computed: its shape rules, parameters, PyTorch's initialisation and
// state_dict names. How it is computed is the backend's: forward and backward call
// cpu::conv2d_forward / cpu::conv2d_backward (cpu/conv2d.hpp), which choose among im2col +
// GEMM, the direct kernel and Winograd for this geometry (docs/convolution.md).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../cpu/conv2d.hpp"

namespace zoo {

template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t DH, std::size_t DW,
          std::size_t G, bool Bias>
struct Conv2dLayer {
  static constexpr bool image = is_image_v<In>;
  static constexpr std::size_t OH_ = detail::conv_out_size(In::H, KH, SH, PH, DH);
  static constexpr std::size_t OW_ = detail::conv_out_size(In::W, KW, SW, PW, DW);

  // The layers after this one bind only if it did (one mistake, one error).
  static constexpr bool bind_ok = image && In::C % G == 0 && Out % G == 0 && OH_ > 0 && OW_ > 0;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(image,
                  "zoo::Conv2d: the input is flat features (F), but Conv2d takes images (C, H, W); "
                  "put zoo::Reshape<C, H, W> before it");
    static_assert(!image || In::C % G == 0,
                  "zoo::Conv2d: the input's channel count is not divisible by Groups; in-channels "
                  "and out-channels must both be multiples of the number of groups");
    static_assert(Out % G == 0,
                  "zoo::Conv2d: Out is not divisible by Groups; in-channels and out-channels must "
                  "both be multiples of the number of groups");
    static_assert(!image || (OH_ > 0 && OW_ > 0),
                  "zoo::Conv2d: the (dilated) kernel is larger than the padded input, so the output "
                  "size would not be positive; use a smaller kernel or dilation, or more padding");
    return bind_ok;
  }

  static constexpr std::size_t C = In::C, H = In::H, W = In::W;
  static constexpr std::size_t OH = OH_ > 0 ? OH_ : 1, OW = OW_ > 0 ? OW_ : 1;
  static constexpr std::size_t in_channels = C, out_channels = Out, groups = G;
  static constexpr std::size_t Cg = C / G, Og = Out / G;
  static constexpr std::size_t K = Cg * KH * KW;  // GEMM inner size per group
  static constexpr std::size_t P = OH * OW;       // output positions
  static constexpr bool pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;
  static constexpr std::size_t weight_size = Out * K;
  using input_shape = In;
  using output_shape = Shape<Out, OH, OW>;
  static constexpr std::size_t num_params = weight_size + (Bias ? Out : 0);
  static constexpr double flops = 2.0 * Out * P * K + (Bias ? 1.0 * Out * P : 0.0);
  static constexpr const char* name() { return "Conv2d"; }
  static constexpr bool backward_reads_x = true, backward_reads_y = false;  // x: for dW

  T* weight = nullptr;  // (Out, C/G, KH, KW)
  T* bias = nullptr;    // (Out)
  T* dweight = nullptr;
  T* dbias = nullptr;
  bool frozen = false;
  // How it is computed: the CPU backend's state for this geometry (cpu/conv2d.hpp). Tests
  // and benchmarks reach its path switches through it (kernel.direct, kernel.threading).
  using kernel_type = cpu::Conv2dKernel<T, In, Out, KH, KW, SH, SW, PH, PW, DH, DW, G, Bias>;
  kernel_type kernel;

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += weight_size, g += weight_size;
    if constexpr (Bias) {
      bias = p, dbias = g;
      p += Out, g += Out;
    }
  }
  // PyTorch's default: kaiming_uniform(a=√5) is U(±1/√fan_in), fan_in = C/G·KH·KW; bias alike.
  void init(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(K));
    rng.fill_uniform(weight, weight_size, -bound, bound);
    if constexpr (Bias) rng.fill_uniform(bias, Out, -bound, bound);
  }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t n) { cpu::conv2d_reserve(kernel, n); }
  void forward(const T* x, T* y, std::size_t n) {
    cpu::conv2d_forward(kernel, weight, Bias ? bias : nullptr, x, y, n);
  }
  void backward(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    cpu::conv2d_backward(kernel, weight, x, dy, frozen ? nullptr : dweight,
                         frozen || !Bias ? nullptr : dbias, dx, n);
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "weight"), std::vector<std::size_t>{Out, Cg, KH, KW}, weight,
      dweight, weight_size);
    if constexpr (Bias)
      f(layer_ops::join(prefix, "bias"), std::vector<std::size_t>{Out}, bias, dbias, Out);
  }
};

// Conv2dHW: a kernel, stride, padding and dilation per axis (height, width), as
// nn.Conv2d(kernel_size=(KH, KW), stride=(SH, SW), ...). In-channels come from the input.
template <std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH = 1, std::size_t SW = 1,
          std::size_t PH = 0, std::size_t PW = 0, std::size_t DH = 1, std::size_t DW = 1,
          std::size_t Groups = 1, bool Bias = true>
struct Conv2dHW {
  static_assert(Out > 0 && KH > 0 && KW > 0,
                "zoo::Conv2d: out-channels and kernel size must be positive");
  static_assert(SH > 0 && SW > 0 && DH > 0 && DW > 0 && Groups > 0,
                "zoo::Conv2d: stride, dilation and groups must be positive");
  template <class T, class In>
  using bind = Conv2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, DH, DW, Groups, Bias>;
};

// Conv2d<Out, Kernel, Stride, Padding, Dilation, Groups, Bias>: a square kernel,
// as nn.Conv2d(in, Out, Kernel, Stride, Padding, Dilation, Groups, Bias).
template <std::size_t Out, std::size_t Kernel, std::size_t Stride = 1, std::size_t Padding = 0,
          std::size_t Dilation = 1, std::size_t Groups = 1, bool Bias = true>
struct Conv2d : Conv2dHW<Out, Kernel, Kernel, Stride, Stride, Padding, Padding, Dilation, Dilation,
                         Groups, Bias> {};

}  // namespace zoo

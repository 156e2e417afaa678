// zoo/layers/conv_transpose2d.hpp — transposed convolution, as torch.nn.ConvTranspose2d.
//
// The adjoint of Conv2d in its input: every input pixel scatters a weighted
// copy of the kernel onto the output, at stride S, cropped by the padding.
//   x: (N, C, H, W)   w: (C, Out, KH, KW)   b: (Out)   y: (N, Out, OH, OW)
//   OH = (H − 1)·SH − 2·PH + DH·(KH − 1) + OPH + 1   (PyTorch's formula; OW alike)
//
// What is computed lives here (shapes, parameters, initialisation, names); how, in
// cpu/conv_transpose2d.hpp, called through cpu::conv_transpose2d_forward / _backward.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../cpu/conv_transpose2d.hpp"

namespace zoo {

template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t OPH, std::size_t OPW,
          std::size_t DH, std::size_t DW, bool Bias>
struct ConvTranspose2dLayer {
  static constexpr bool image = is_image_v<In>;
  static constexpr std::size_t OH_ =
      detail::conv_transpose_out_size(In::H, KH, SH, PH, OPH, DH);
  static constexpr std::size_t OW_ =
      detail::conv_transpose_out_size(In::W, KW, SW, PW, OPW, DW);
  static constexpr bool bind_ok = image && (OPH < SH || OPH < DH) && (OPW < SW || OPW < DW) &&
                                  OH_ > 0 && OW_ > 0;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(image,
                  "zoo::ConvTranspose2d: the input is flat features (F), but ConvTranspose2d takes "
                  "images (C, H, W); put zoo::Reshape<C, H, W> before it");
    static_assert((OPH < SH || OPH < DH) && (OPW < SW || OPW < DW),
                  "zoo::ConvTranspose2d: OutputPadding must be smaller than the stride or the "
                  "dilation, as in PyTorch");
    static_assert(!image || (OH_ > 0 && OW_ > 0),
                  "zoo::ConvTranspose2d: the padding crops more than the whole output, so the output "
                  "size would not be positive; use less padding");
    return bind_ok;
  }

  static constexpr std::size_t C = In::C, H = In::H, W = In::W;
  static constexpr std::size_t OH = OH_ > 0 ? OH_ : 1, OW = OW_ > 0 ? OW_ : 1;
  static constexpr std::size_t in_channels = C, out_channels = Out;
  static constexpr std::size_t R = Out * KH * KW;  // rows of col
  static constexpr std::size_t HW = H * W;
  static constexpr bool pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 &&
                                    PW == 0 && OPH == 0 && OPW == 0;
  static constexpr std::size_t weight_size = C * R;
  using input_shape = In;
  using output_shape = Shape<Out, OH, OW>;
  static constexpr std::size_t num_params = weight_size + (Bias ? Out : 0);
  static constexpr double flops = 2.0 * C * HW * R + (Bias ? 1.0 * Out * OH * OW : 0.0);
  static constexpr const char* name() { return "ConvTranspose2d"; }
  static constexpr bool backward_reads_x = true, backward_reads_y = false;  // x: for dW

  T* weight = nullptr;  // (C, Out, KH, KW)
  T* bias = nullptr;    // (Out)
  T* dweight = nullptr;
  T* dbias = nullptr;
  bool frozen = false;
  // How it is computed: the CPU backend's state for this geometry (cpu/conv_transpose2d.hpp).
  using kernel_type = cpu::ConvTranspose2dKernel<T, In, Out, KH, KW, SH, SW, PH, PW, OPH, OPW, DH, DW, Bias>;
  kernel_type kernel;

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += weight_size, g += weight_size;
    if constexpr (Bias) {
      bias = p, dbias = g;
      p += Out, g += Out;
    }
  }
  // PyTorch: kaiming_uniform(a=√5) on a (C, Out, KH, KW) weight takes fan_in from
  // dim 1, so the bound is 1/√(Out·KH·KW) for weight and bias.
  void init(Rng& rng) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(R));
    rng.fill_uniform(weight, weight_size, -bound, bound);
    if constexpr (Bias) rng.fill_uniform(bias, Out, -bound, bound);
  }
  void set_frozen(bool f) { frozen = f; }
  void resize(std::size_t n) { cpu::conv_transpose2d_reserve(kernel, n); }
  void reserve_infer(std::size_t) { cpu::conv_transpose2d_reserve_infer(kernel); }
  void forward(const T* x, T* y, std::size_t n) {
    cpu::conv_transpose2d_forward(kernel, weight, Bias ? bias : nullptr, x, y, n);
  }
  void backward(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    cpu::conv_transpose2d_backward(kernel, weight, x, dy, frozen ? nullptr : dweight,
                                   frozen || !Bias ? nullptr : dbias, dx, n);
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    f(layer_ops::join(prefix, "weight"), std::vector<std::size_t>{C, Out, KH, KW}, weight,
      dweight, weight_size);
    if constexpr (Bias)
      f(layer_ops::join(prefix, "bias"), std::vector<std::size_t>{Out}, bias, dbias, Out);
  }
};

// ConvTranspose2dHW: kernel, stride, padding, output padding and dilation per axis.
template <std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH = 1, std::size_t SW = 1,
          std::size_t PH = 0, std::size_t PW = 0, std::size_t OPH = 0, std::size_t OPW = 0,
          std::size_t DH = 1, std::size_t DW = 1, bool Bias = true>
struct ConvTranspose2dHW {
  static_assert(Out > 0 && KH > 0 && KW > 0,
                "zoo::ConvTranspose2d: out-channels and kernel size must be positive");
  static_assert(SH > 0 && SW > 0 && DH > 0 && DW > 0,
                "zoo::ConvTranspose2d: stride and dilation must be positive");
  template <class T, class In>
  using bind = ConvTranspose2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, OPH, OPW, DH, DW, Bias>;
};

// ConvTranspose2d<Out, Kernel, Stride, Padding, OutputPadding, Bias>, as
// nn.ConvTranspose2d(in, Out, Kernel, Stride, Padding, OutputPadding, bias=Bias).
template <std::size_t Out, std::size_t Kernel, std::size_t Stride = 1, std::size_t Padding = 0,
          std::size_t OutputPadding = 0, bool Bias = true>
struct ConvTranspose2d : ConvTranspose2dHW<Out, Kernel, Kernel, Stride, Stride, Padding, Padding,
                                           OutputPadding, OutputPadding, 1, 1, Bias> {};

}  // namespace zoo

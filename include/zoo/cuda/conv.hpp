// zoo/cuda/conv.hpp — convolution on the device: im2col + GEMM, the reference path of the
// CUDA backend; cuDNN (cuda/cudnn.hpp) where the build has it and conv_engine() asks for it.
//
// A batch runs in chunks of nb samples whose column matrix fits the workspace budget:
//   Conv2d           col (C·KH·KW, nb·P) = im2col(x)            P = OH·OW
//                    Y' (Out, nb·P) = W_g · col_g per group;     y = Y' as (nb, Out, P) + b
//                    dW_g += dY'_g · col_gᵀ;  dcol_g = W_gᵀ · dY'_g;  dx += col2im(dcol)
//   ConvTranspose2d  the adjoint: X' (C, nb·P) from x;  col = Wᵀ · X';  y = b + col2im(col)
//                    dcol = im2col(dy);  dx += W · dcol;  dW += X' · dcolᵀ
// col2im gathers (one index per image value sums the column entries that land on it), so
// no atomics are needed and the result does not depend on the schedule. Geometry is a
// run-time struct: one set of functors serves every convolution of a network.
#pragma once
#include <algorithm>
#include <stdexcept>
#include <string>

#include "../layers/akconv.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "akconv_thrust.hpp"
#include "cudnn.hpp"
#include "layers.hpp"
#include "norm.hpp"

namespace zoo::cuda {

// An image (C, H, W) and the positions (OH, OW) a kernel visits on it: image row
// oh·SH − PH + kh·DH, column ow·SW − PW + kw·DW.
struct ConvGeom {
  index_t C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW;
  ZOO_HD constexpr index_t P() const { return OH * OW; }
  ZOO_HD constexpr index_t rows() const { return C * KH * KW; }
  ZOO_HD constexpr index_t image() const { return C * H * W; }
};
template <class... A>
constexpr ConvGeom conv_geom(A... a) {
  return ConvGeom{static_cast<index_t>(a)...};
}

namespace fn {
// col[r, s·P + p] for r = (c, kh, kw), sample s < nb, position p.
template <class T>
struct Im2col {
  ConvGeom g;
  const T* x;  // (nb, C, H, W)
  T* col;      // (rows, nb·P)
  index_t nb;
  ZOO_HD void operator()(index_t i) const {
    const index_t P = g.P(), cols = nb * P;
    const index_t r = i / cols, q = i - r * cols;
    const index_t s = q / P, p = q - s * P;
    const index_t kw = r % g.KW, kh = (r / g.KW) % g.KH, c = r / (g.KW * g.KH);
    const index_t oh = p / g.OW, ow = p - oh * g.OW;
    const index_t ih = oh * g.SH - g.PH + kh * g.DH, iw = ow * g.SW - g.PW + kw * g.DW;
    col[i] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
                 ? x[s * g.image() + (c * g.H + ih) * g.W + iw]
                 : T(0);
  }
};
// x[s, c, ih, iw] += Σ of the column entries that im2col read from there.
template <class T>
struct Col2imAdd {
  ConvGeom g;
  const T* col;  // (rows, nb·P)
  T* x;          // (nb, C, H, W)
  index_t nb;
  ZOO_HD void operator()(index_t i) const {
    const index_t iw = i % g.W, ih = (i / g.W) % g.H, c = (i / (g.W * g.H)) % g.C;
    const index_t s = i / g.image();
    const index_t P = g.P(), cols = nb * P;
    T acc = T(0);
    for (index_t kh = 0; kh < g.KH; ++kh) {
      const index_t th = ih + g.PH - kh * g.DH;
      if (th < 0 || th % g.SH != 0) continue;
      const index_t oh = th / g.SH;
      if (oh >= g.OH) continue;
      for (index_t kw = 0; kw < g.KW; ++kw) {
        const index_t tw = iw + g.PW - kw * g.DW;
        if (tw < 0 || tw % g.SW != 0) continue;
        const index_t ow = tw / g.SW;
        if (ow >= g.OW) continue;
        acc += col[((c * g.KH + kh) * g.KW + kw) * cols + s * P + oh * g.OW + ow];
      }
    }
    x[i] += acc;
  }
};
// (nb, O, P) ↔ (O, nb·P): a batch's channel planes side by side, as one GEMM operand.
template <class T, bool Add>
struct FromChannelMajor {  // y[s, o, p] (+)= Y'[o, s·P + p] (+ b[o])
  const T* src;
  const T* bias;  // or null
  T* y;
  index_t O, P, nb;
  ZOO_HD void operator()(index_t i) const {
    const index_t p = i % P, o = (i / P) % O, s = i / (P * O);
    T v = src[o * nb * P + s * P + p];
    if (bias) v += bias[o];
    if constexpr (Add) y[i] += v;
    else y[i] = v;
  }
};
template <class T>
struct ToChannelMajor {  // Y'[o, s·P + p] = y[s, o, p]
  const T* y;
  T* dst;
  index_t O, P, nb;
  ZOO_HD void operator()(index_t i) const {
    const index_t q = i % (nb * P), o = i / (nb * P);
    const index_t s = q / P, p = q - s * P;
    dst[i] = y[(s * O + o) * P + p];
  }
};
template <class T>
struct BiasPlanes {  // y[s, o, p] = b[o]
  const T* b;
  T* y;
  index_t O, P;
  ZOO_HD void operator()(index_t i) const { y[i] = b[(i / P) % O]; }
};
template <class T>
struct PlaneSums {  // part[s, o] = Σ_p dy[s, o, p]
  const T* dy;
  T* part;
  index_t P;
  ZOO_HD void operator()(index_t i) const {
    T acc = T(0);
    for (index_t p = 0; p < P; ++p) acc += dy[i * P + p];
    part[i] = acc;
  }
};
}  // namespace fn

// db[o] += Σ_{s, p} dy[s, o, p] in two deterministic passes (planes, then samples), with
// `part` (n·O values) between them.
template <class T>
void bias_grad(const T* dy, T* part, T* db, index_t n, index_t O, index_t P) {
  launch(n * O, fn::PlaneSums<T>{dy, part, P});
  launch(O, fn::ColumnSumAdd<T>{part, db, n, O});
}

// Values of column matrix a chunk may take (64 MiB of floats); a chunk holds one sample at least.
inline constexpr index_t kConvChunkValues = index_t(1) << 24;
inline index_t conv_chunk(index_t n, index_t per_sample) {
  return std::max<index_t>(1, std::min<index_t>(n, kConvChunkValues / std::max<index_t>(1, per_sample)));
}

// The cuDNN path of a convolution layer (cuda/cudnn.hpp), where the build has cuDNN: on when
// conv_engine() said cudnn at the layer's last resize.
template <class T>
struct DnnPath {
#if ZOO_HAS_CUDNN
  DnnConv<T> conv;
#endif
  bool on = false;
};

// cuDNN's descriptors hold the batch of the last forward: a backward of another batch would
// read and write past the tensors.
inline void dnn_same_batch(index_t forward_n, std::size_t n) {
  if (forward_n != static_cast<index_t>(n))
    throw std::logic_error("zoo::cuda convolution (cuDNN): backward of a batch of " + std::to_string(n) +
                           " after a forward of " + std::to_string(forward_n));
}

// ------------------------------------------------------------------ Conv2d
template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t DH, std::size_t DW,
          std::size_t G, bool Bias>
struct layer<Conv2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, DH, DW, G, Bias>>
    : leaf<Conv2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, DH, DW, G, Bias>>,
      weight_bias<T, Out * (In::C / G) * KH * KW, Bias ? Out : 0> {
  using L = Conv2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, DH, DW, G, Bias>;
  using wb = weight_bias<T, Out * (In::C / G) * KH * KW, Bias ? Out : 0>;
  using wb::weight, wb::bias, wb::dweight, wb::dbias, wb::frozen;
  static constexpr ConvGeom geom = conv_geom(In::C, In::H, In::W, KH, KW, SH, SW, PH, PW, DH, DW,
                                             L::OH, L::OW);
  static constexpr index_t O = Out, Og = L::Og, K = L::K, P = L::P, R = geom.rows();
  index_t nb = 1;
  DeviceBuffer<T> col, yc, part;
  DnnPath<T> dnn;

  void resize(std::size_t n) {
    part.resize(Bias ? n * Out : 0);
    dnn.on = conv_engine() == ConvEngine::cudnn;  // which a build without cuDNN refuses
#if ZOO_HAS_CUDNN
    if (dnn.on) {
      dnn.conv.setup(static_cast<index_t>(n), In::C, In::H, In::W, O, L::OH, L::OW, KH, KW, SH, SW, PH, PW, DH, DW, G);
      return;
    }
#endif
    nb = conv_chunk(static_cast<index_t>(n), (R + O) * P);
    col.resize(static_cast<std::size_t>(R * nb * P));
    yc.resize(static_cast<std::size_t>(O * nb * P));
  }
  void forward(const T* x, T* y, std::size_t n) {
#if ZOO_HAS_CUDNN
    if (dnn.on) {
      if (dnn.conv.batch() != static_cast<index_t>(n)) resize(n);
      dnn.conv.forward(x, weight, Bias ? bias : nullptr, y);
      return;
    }
#endif
    for (index_t s0 = 0; s0 < static_cast<index_t>(n); s0 += nb) {
      const index_t b = std::min<index_t>(nb, static_cast<index_t>(n) - s0), cols = b * P;
      launch(R * cols, fn::Im2col<T>{geom, x + s0 * geom.image(), col.data(), b});
      for (index_t g = 0; g < static_cast<index_t>(G); ++g)
        gemm<T>(false, false, Og, cols, K, T(1), weight + g * Og * K, K, col.data() + g * K * cols,
                cols, T(0), yc.data() + g * Og * cols, cols);
      launch(O * cols, fn::FromChannelMajor<T, false>{yc.data(), Bias ? bias : nullptr,
                                                      y + s0 * O * P, O, P, b});
    }
  }
  void backward(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    const bool dw = !frozen;
    if (dw && Bias) bias_grad(dy, part.data(), dbias, static_cast<index_t>(n), O, P);
    if (!dw && !dx) return;
#if ZOO_HAS_CUDNN
    if (dnn.on) {
      dnn_same_batch(dnn.conv.batch(), n);
      if (dw) dnn.conv.backward_filter(x, dy, dweight);
      if (dx) dnn.conv.backward_data(weight, dy, dx);
      return;
    }
#endif
    for (index_t s0 = 0; s0 < static_cast<index_t>(n); s0 += nb) {
      const index_t b = std::min<index_t>(nb, static_cast<index_t>(n) - s0), cols = b * P;
      launch(O * cols, fn::ToChannelMajor<T>{dy + s0 * O * P, yc.data(), O, P, b});
      if (dw) {
        launch(R * cols, fn::Im2col<T>{geom, x + s0 * geom.image(), col.data(), b});
        for (index_t g = 0; g < static_cast<index_t>(G); ++g)
          gemm<T>(false, true, Og, K, cols, T(1), yc.data() + g * Og * cols, cols,
                  col.data() + g * K * cols, cols, T(1), dweight + g * Og * K, K);
      }
      if (dx) {
        for (index_t g = 0; g < static_cast<index_t>(G); ++g)
          gemm<T>(true, false, K, cols, Og, T(1), weight + g * Og * K, K,
                  yc.data() + g * Og * cols, cols, T(0), col.data() + g * K * cols, cols);
        launch(b * geom.image(), fn::Col2imAdd<T>{geom, col.data(), dx + s0 * geom.image(), b});
      }
    }
  }
};

// ------------------------------------------------------------------ ConvTranspose2d
template <class T, class In, std::size_t Out, std::size_t KH, std::size_t KW, std::size_t SH,
          std::size_t SW, std::size_t PH, std::size_t PW, std::size_t OPH, std::size_t OPW,
          std::size_t DH, std::size_t DW, bool Bias>
struct layer<ConvTranspose2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, OPH, OPW, DH, DW, Bias>>
    : leaf<ConvTranspose2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, OPH, OPW, DH, DW, Bias>>,
      weight_bias<T, In::C * Out * KH * KW, Bias ? Out : 0> {
  using L = ConvTranspose2dLayer<T, In, Out, KH, KW, SH, SW, PH, PW, OPH, OPW, DH, DW, Bias>;
  using wb = weight_bias<T, In::C * Out * KH * KW, Bias ? Out : 0>;
  using wb::weight, wb::bias, wb::dweight, wb::dbias, wb::frozen;  // weight (C, Out·KH·KW)
  // The image is this layer's output; the kernel's positions are its input pixels.
  static constexpr ConvGeom geom =
      conv_geom(Out, L::OH, L::OW, KH, KW, SH, SW, PH, PW, DH, DW, In::H, In::W);
  static constexpr index_t C = In::C, O = Out, P = In::H * In::W, R = geom.rows();
  static constexpr index_t OP = L::OH * L::OW;
  index_t nb = 1;
  DeviceBuffer<T> col, xc, part;
  DnnPath<T> dnn;

  void resize(std::size_t n) {
    part.resize(Bias ? n * Out : 0);
    dnn.on = conv_engine() == ConvEngine::cudnn;  // which a build without cuDNN refuses
#if ZOO_HAS_CUDNN
    if (dnn.on) {  // the convolution whose adjoint this layer is: (Out, OH, OW) → (C, H, W)
      dnn.conv.setup(static_cast<index_t>(n), O, L::OH, L::OW, C, In::H, In::W, KH, KW, SH, SW, PH, PW, DH, DW, 1);
      dnn.conv.set_bias_on_x(O);
      return;
    }
#endif
    nb = conv_chunk(static_cast<index_t>(n), (R + C) * P);
    col.resize(static_cast<std::size_t>(R * nb * P));
    xc.resize(static_cast<std::size_t>(C * nb * P));
  }
  void forward(const T* x, T* y, std::size_t n) {
    const index_t N = static_cast<index_t>(n);
#if ZOO_HAS_CUDNN
    if (dnn.on) {
      if (dnn.conv.batch() != N) resize(n);
      dnn.conv.backward_data(weight, x, y, /*accumulate=*/false);
      if constexpr (Bias) dnn.conv.add_bias_x(bias, y);
      return;
    }
#endif
    if constexpr (Bias) launch(N * O * OP, fn::BiasPlanes<T>{bias, y, O, OP});
    else cuda::fill(y, n * O * OP, T(0));
    for (index_t s0 = 0; s0 < N; s0 += nb) {
      const index_t b = std::min<index_t>(nb, N - s0), cols = b * P;
      launch(C * cols, fn::ToChannelMajor<T>{x + s0 * C * P, xc.data(), C, P, b});
      gemm<T>(true, false, R, cols, C, T(1), weight, R, xc.data(), cols, T(0), col.data(), cols);
      launch(b * geom.image(), fn::Col2imAdd<T>{geom, col.data(), y + s0 * geom.image(), b});
    }
  }
  void backward(const T* x, const T*, const T* dy, T* dx, std::size_t n) {
    const index_t N = static_cast<index_t>(n);
    const bool dw = !frozen;
    if (dw && Bias) bias_grad(dy, part.data(), dbias, N, O, OP);
    if (!dw && !dx) return;
#if ZOO_HAS_CUDNN
    if (dnn.on) {
      dnn_same_batch(dnn.conv.batch(), n);
      if (dw) dnn.conv.backward_filter(dy, x, dweight);  // conv terms: x = this dy, y = this x
      if (dx) dnn.conv.forward(dy, weight, nullptr, dx, /*accumulate=*/true);
      return;
    }
#endif
    for (index_t s0 = 0; s0 < N; s0 += nb) {
      const index_t b = std::min<index_t>(nb, N - s0), cols = b * P;
      launch(R * cols, fn::Im2col<T>{geom, dy + s0 * geom.image(), col.data(), b});
      if (dw) {
        launch(C * cols, fn::ToChannelMajor<T>{x + s0 * C * P, xc.data(), C, P, b});
        gemm<T>(false, true, C, R, cols, T(1), xc.data(), cols, col.data(), cols, T(1), dweight, R);
      }
      if (dx) {
        gemm<T>(false, false, C, cols, R, T(1), weight, R, col.data(), cols, T(0), xc.data(), cols);
        launch(C * cols, fn::FromChannelMajor<T, true>{xc.data(), nullptr, dx + s0 * C * P, C, P, b});
      }
    }
  }
};


// ------------------------------------------------------------------ AKConv
// p_conv (a device Conv2d) → offsets; the gather (the CPU's ZOO_HD functors run by Thrust,
// cuda/akconv_thrust.hpp: non-finite offsets throw) → col (B, C·N, P); the (N, 1) conv as one
// GEMM per sample; BatchNorm and SiLU as device layers. Backward in reverse; the input
// gradient's scatter runs one index per (sample, channel) plane — deterministic, no atomics —
// or, with `atomic_scatter`, one per (sample, channel, point, position) with atomic adds: far
// more parallel on a GPU, but the last bits of dx change from run to run.
template <class T, class In, std::size_t Out, std::size_t NP, std::size_t S, AKConvSampling Mode>
struct layer<AKConvLayer<T, In, Out, NP, S, Mode>> : leaf<AKConvLayer<T, In, Out, NP, S, Mode>> {
  using L = AKConvLayer<T, In, Out, NP, S, Mode>;
  static constexpr index_t K = L::K, P = L::P, O = Out;
  static constexpr std::size_t outs = L::output_shape::size;
  layer<typename L::PConv> p_conv;
  layer<typename L::BN> bn;
  layer<typename L::Act> act;
  T* weight = nullptr;  // conv.0.weight (Out, C·N)
  T* dweight = nullptr;
  bool frozen = false;
  bool atomic_scatter = false;
  DeviceBuffer<T> offset, col, z, a, da, dz, dcol, doffset;
  DeviceBuffer<kernels::AKConvTap<T>> taps;

  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += L::weight_size, g += L::weight_size;
    bn.bind_params(p, g);
    p_conv.bind_params(p, g);
  }
  void bind_buffers(T*& b) { bn.bind_buffers(b); }
  void set_training(bool t) { bn.set_training(t); }
  void set_frozen(bool f) {
    frozen = f;
    bn.set_frozen(f);
    p_conv.set_frozen(f);
  }
  void resize(std::size_t n) {
    offset.resize(n * L::offset_shape::size), doffset.resize(n * L::offset_shape::size);
    taps.resize(n * NP * P);
    col.resize(n * K * P), dcol.resize(n * K * P);
    z.resize(n * outs), a.resize(n * outs), da.resize(n * outs), dz.resize(n * outs);
    p_conv.resize(n);
    bn.resize(n);
  }
  void forward(const T* x, T* y, std::size_t n) {
    if (col.size() < n * K * P) resize(n);
    p_conv.forward(x, offset.data(), n);
    cuda::akconv_gather_forward<T, Mode>(thrust::device, L::geom, index_t(n), x, offset.data(),
                                         taps.data(), col.data());
    // z_i = W · col_i for every image at once (W shared: stride 0).
    gemm_strided_batched<T>(false, false, O, P, K, T(1), weight, K, 0, col.data(), P, K * P, T(0), z.data(), P,
                            O * P, index_t(n));
    bn.forward(z.data(), a.data(), n);
    act.forward(a.data(), y, n);
  }
  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    act.backward_overwrite(a.data(), y, dy, da.data(), n);
    bn.backward_overwrite(z.data(), a.data(), da.data(), dz.data(), n);
    // dW sums over the images into one matrix, so it stays a loop (a batched GEMM's outputs
    // must not overlap); dcol_i = Wᵀ · dz_i is one batched call.
    if (!frozen)
      for (std::size_t i = 0; i < n; ++i)
        gemm<T>(false, true, O, K, P, T(1), dz.data() + i * O * P, P, col.data() + i * K * P, P, T(1), dweight, K);
    gemm_strided_batched<T>(true, false, K, P, O, T(1), weight, K, 0, dz.data(), P, O * P, T(0), dcol.data(), P,
                            K * P, index_t(n));
    cuda::akconv_gather_backward<T>(thrust::device, L::geom, index_t(n), x, taps.data(), dcol.data(),
                                    doffset.data(), dx, atomic_scatter);
    p_conv.backward(x, offset.data(), doffset.data(), dx, n);
  }
};

}  // namespace zoo::cuda

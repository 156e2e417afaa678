// zoo/cuda/layers.hpp — the CUDA backend's layers: how each CPU layer runs on the device.
//
// Binding a network with zoo::cuda::device<T> (core/backend.hpp) binds every leaf spec for
// the CPU and hands the CPU layer L to cuda::layer<L>. A specialization here is L's device
// implementation: it keeps L's compile-time facts (shapes, parameter count, what backward
// reads; leaf<L>), takes views of the device's flat parameter buffers in the same order as
// L, and runs the same contract (backward adds, dx == nullptr skips) with device kernels:
// Thrust functors (ZOO_HD, the arithmetic of the CPU layer's functor where there is one)
// and cuda::gemm. Initialisation, names and checkpoints stay the CPU layer's: a device
// model keeps a host mirror for them (cuda/model.hpp).
//
// A layer with no specialization here stops the build with one error naming the layer.
#pragma once
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>
#include <type_traits>

#include "../core/layer.hpp"
#include "../layers/activations.hpp"
#include "../layers/linear.hpp"
#include "../layers/reshape.hpp"
#include "blas.hpp"
#include "lt.hpp"
#include "runtime.hpp"

namespace zoo::cuda {

// f(i) for i in [0, n) on the device (a Thrust for_each over a counting iterator).
template <class F>
void launch(index_t n, const F& f) {
  if (n <= 0) return;
  thrust::for_each(thrust::device, thrust::counting_iterator<index_t>(0),
                   thrust::counting_iterator<index_t>(n), f);
}

namespace fn {
template <class T>
struct Fill {
  T* p;
  T v;
  ZOO_HD void operator()(index_t i) const { p[i] = v; }
};
template <class T>
struct Copy {
  const T* s;
  T* d;
  ZOO_HD void operator()(index_t i) const { d[i] = s[i]; }
};
template <class T>
struct AddTo {  // d += s
  const T* s;
  T* d;
  ZOO_HD void operator()(index_t i) const { d[i] += s[i]; }
};
template <class T>
struct RowBroadcast {  // y[r, j] = b[j], rows of `cols`
  const T* b;
  T* y;
  index_t cols;
  ZOO_HD void operator()(index_t i) const { y[i] = b[i % cols]; }
};
template <class T>
struct ColumnSumAdd {  // d[j] += Σ_r s[r, j]: one index per column, rows summed in order
  const T* s;
  T* d;
  index_t rows, cols;
  ZOO_HD void operator()(index_t j) const {
    T acc = T(0);
    for (index_t r = 0; r < rows; ++r) acc += s[r * cols + j];
    d[j] += acc;
  }
};
template <class Fn, class T>
struct ActForward {
  const T* x;
  T* y;
  ZOO_HD void operator()(index_t i) const { y[i] = Fn::f(x[i]); }
};
template <class Fn, class T, bool Overwrite>
struct ActBackward {
  const T* x;
  const T* y;
  const T* dy;
  T* dx;
  ZOO_HD void operator()(index_t i) const {
    // A y_only function never reads x: fused after a Linear, x is the pre-activation that
    // was never written (the memory plan gives it no room).
    T g;
    if constexpr (Fn::y_only) g = dy[i] * Fn::df(T(0), y[i]);
    else g = dy[i] * Fn::df(x[i], y[i]);
    if constexpr (Overwrite) dx[i] = g;
    else dx[i] += g;
  }
};
}  // namespace fn

template <class T>
void fill(T* p, std::size_t len, T v) {
  launch(static_cast<index_t>(len), fn::Fill<T>{p, v});
}
template <class T>
void copy(const T* s, std::size_t len, T* d) {
  launch(static_cast<index_t>(len), fn::Copy<T>{s, d});
}
template <class T>
void add_to(const T* s, std::size_t len, T* d) {
  launch(static_cast<index_t>(len), fn::AddTo<T>{s, d});
}

// ------------------------------------------------------------------ the leaf base
namespace detail {
template <class L, bool Multi = (layer_arity<L>() > 1)>
struct io_of {
  using input_shape = typename L::input_shape;
};
template <class L>
struct io_of<L, true> {
  static constexpr std::size_t arity = L::arity;
  using input_shapes = typename L::input_shapes;
  using input_shape = type_at_t<0, input_shapes>;
};
}  // namespace detail

// What a device layer keeps of its CPU layer L: the compile-time facts the containers and
// the memory plan read. `cpu_layer` names L.
template <class L>
struct leaf : detail::io_of<L> {
  using cpu_layer = L;
  using output_shape = typename L::output_shape;
  static constexpr std::size_t num_params = num_params_of<L>();
  static constexpr std::size_t num_buffers = num_buffers_of<L>();
  static constexpr double flops = flops_of<L>();
  static constexpr bool bind_ok = bind_ok_of<L>();
  static constexpr bool check() {
    if constexpr (requires { L::check(); }) return L::check();
    else return bind_ok;
  }
  static constexpr const char* name() {
    if constexpr (requires { L::name(); }) return L::name();
    else return "layer";
  }
  static constexpr bool backward_reads_x = backward_reads_x_of<L>();
  static constexpr bool backward_reads_y = backward_reads_y_of<L>();
};

// Views of a layer's weight and (BiasSize > 0) bias in the device's flat parameters, in the
// CPU layer's order (Linear, Conv2d, ConvTranspose2d); frozen: no parameter gradients.
template <class T, std::size_t WeightSize, std::size_t BiasSize>
struct weight_bias {
  T* weight = nullptr;
  T* bias = nullptr;
  T* dweight = nullptr;
  T* dbias = nullptr;
  bool frozen = false;
  void bind_params(T*& p, T*& g) {
    weight = p, dweight = g;
    p += WeightSize, g += WeightSize;
    if constexpr (BiasSize > 0) {
      bias = p, dbias = g;
      p += BiasSize, g += BiasSize;
    }
  }
  void set_frozen(bool f) { frozen = f; }
};

// A layer the CUDA backend does not implement: one error, naming it, where it is bound.
template <class L>
struct layer : leaf<L> {
  static constexpr bool bind_ok = false;
  static constexpr bool check() {
    static_assert(dependent_false<L>,
                  "zoo::cuda: this layer has no CUDA implementation yet (docs/gpu.md lists the "
                  "layers that have one); the note below names it as cuda::layer<its CPU type>");
    return false;
  }
  template <class... A>
  void forward(A&&...) {}
  template <class... A>
  void backward(A&&...) {}
};

// ------------------------------------------------------------------ Linear
// y = x Wᵀ + b. On a GPU one cuBLASLt matmul with the bias epilogue (cuda/lt.hpp); else
// the bias rows first, then one GEMM adding onto them (β = 1). Sequential and Graph fuse a
// following ReLU/Tanh/Sigmoid/LeakyReLU into it (forward_act, as on the CPU): ReLU as
// cuBLASLt's epilogue, the others as one in-place pass over y.
// dW += dyᵀ x, db += Σₙ dy (column sums, each in row order: deterministic), dx (+)= dy W.
template <class T, class In, std::size_t Out, bool Bias>
struct layer<LinearLayer<T, In, Out, Bias>> : leaf<LinearLayer<T, In, Out, Bias>>,
                                              weight_bias<T, Out * In::size, Bias ? Out : 0> {
  static constexpr index_t I = static_cast<index_t>(In::size), O = static_cast<index_t>(Out);
  using wb = weight_bias<T, Out * In::size, Bias ? Out : 0>;
  using wb::weight, wb::bias, wb::dweight, wb::dbias, wb::frozen;  // (Out, In), (Out)
#if ZOO_HAS_CUBLASLT
  LtLinear<T> lt;
#endif
  void forward(const T* x, T* y, std::size_t n) { forward_act<void>(x, y, n); }
  // Fn = void: no activation.
  template <class Fn>
  void forward_act(const T* x, T* y, std::size_t n) {
    const index_t N = static_cast<index_t>(n);
    bool by_lt = false;
#if ZOO_HAS_CUBLASLT
    by_lt = lt.forward(x, weight, Bias ? bias : nullptr, y, N, I, O, lt_epilogue<Fn, Bias>());
#endif
    if (!by_lt) {
      if constexpr (Bias) launch(N * O, fn::RowBroadcast<T>{bias, y, O});
      gemm<T>(false, true, N, O, I, T(1), x, I, weight, I, Bias ? T(1) : T(0), y, O);
    }
    if constexpr (!std::is_void_v<Fn>)
      if (!(by_lt && lt_has_act<Fn>())) launch(N * O, fn::ActForward<Fn, T>{y, y});
  }
  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl(x, y, dy, dx, n, false);
  }
  void backward_overwrite(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_impl(x, y, dy, dx, n, true);
  }
  void backward_impl(const T* x, const T*, const T* dy, T* dx, std::size_t n, bool overwrite) {
    const index_t N = static_cast<index_t>(n);
    if (!frozen) {
      gemm<T>(true, false, O, I, N, T(1), dy, O, x, I, T(1), dweight, I);  // (Out, In)
      if constexpr (Bias) launch(O, fn::ColumnSumAdd<T>{dy, dbias, N, O});
    }
    if (dx) gemm<T>(false, false, N, I, O, T(1), dy, O, weight, I, overwrite ? T(0) : T(1), dx, I);
  }
};

// ------------------------------------------------------------------ activations
// The CPU layer's functor (act::relu, act::silu, …) on each value: the same arithmetic.
template <class T, class In, class Fn>
struct layer<ActivationLayer<T, In, Fn>> : leaf<ActivationLayer<T, In, Fn>> {
  static constexpr index_t S = static_cast<index_t>(In::size);
  using fn = Fn;  // with y_only, what lets a Linear before it compute its output (fuses_with)
  static constexpr bool y_only = Fn::y_only;
  static constexpr bool inplace = true;  // each value is read, then written
  void forward(const T* x, T* y, std::size_t n) {
    launch(static_cast<index_t>(n) * S, cuda::fn::ActForward<Fn, T>{x, y});
  }
  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n) * S, cuda::fn::ActBackward<Fn, T, false>{x, y, dy, dx});
  }
  void backward_overwrite(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    if (dx) launch(static_cast<index_t>(n) * S, cuda::fn::ActBackward<Fn, T, true>{x, y, dy, dx});
  }
};

// ------------------------------------------------------------------ Reshape, Flatten
template <class T, class In, class Out>
struct layer<ReshapeLayer<T, In, Out>> : leaf<ReshapeLayer<T, In, Out>> {
  static constexpr bool inplace = true;  // a view: nothing moves where a plan gives y x's memory
  void forward(const T* x, T* y, std::size_t n) {
    if (x != y) copy(x, n * In::size, y);
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (dx) add_to(dy, n * In::size, dx);
  }
};

}  // namespace zoo::cuda

namespace zoo::cuda {
// The backend tag's members that core/backend.hpp reads: containers' storage and memory
// operations, and the device implementation of each leaf.
struct backend {
  template <class T>
  using buffer = DeviceBuffer<T>;
  template <class T>
  static void fill(T* p, std::size_t len, T v) {
    cuda::fill(p, len, v);
  }
  template <class T>
  static void copy(const T* s, std::size_t len, T* d) {
    cuda::copy(s, len, d);
  }
  template <class L>
  using layer = cuda::layer<L>;
};
// Bind a network with device<float> to get its CUDA version: bind_t<Spec, device<float>, In>.
template <class T>
using device = on<backend, T>;
}  // namespace zoo::cuda

// zoo/core/layer.hpp — the layer contract and the helpers that call it.
//
// A *spec* is an empty struct naming a layer and its shape-changing choices
// (`Linear<128>`, `Conv2d<64, 3>`). Binding a spec to its input shape(s) and a
// scalar type gives a concrete layer:
//
//   template <class T, class In> using bind = SomeLayer<T, In, ...>;   // in the spec
//
//   struct SomeLayer {                                  // the contract
//     using input_shape  = In;          // arity-1 layers; see below for more inputs
//     using output_shape = Shape<...>;
//     static constexpr std::size_t num_params;          // trainable scalars
//     static constexpr double flops;                    // forward FLOPs per sample
//     void forward(const T* x, T* y, std::size_t n);
//     void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n);
//   };
//
// backward ADDS into dx and into parameter gradients, so a value read by
// several consumers sums its gradients by itself; dx == nullptr means nobody
// needs the input gradient (the first layer of a model), and the layer skips it.
//
// Optional members, called when present (docs/architecture.md §3 says what each is for):
//   static constexpr std::size_t num_buffers;   // non-trainable state (running stats)
//   static constexpr const char* name();
//   static constexpr bool bind_ok;  static constexpr bool check();   // input rules (bind_t)
//   void bind_params(T*& p, T*& g);  void bind_buffers(T*& b);   // take views of flat storage
//   void init(Rng&);  void bind_rng(Rng*);  void resize(std::size_t n);  void set_training(bool);  void set_frozen(bool);
//   void visit_params(const std::string& prefix, F&& f);   // f(name, shape, data, grad, count)
//   void visit_buffers(const std::string& prefix, F&& f);  // f(name, shape, data, count)
//   void summary(const std::string& prefix, std::vector<SummaryRow>& rows) const;
//   void backward_overwrite(const T* x, const T* y, const T* dy, T* dx, std::size_t n);  // dx =
//   template <class Fn> void forward_act(const T* x, T* y, std::size_t n);  // fused activation
//   using fn = Fn;  static constexpr bool y_only;   // activations: functor, derivative from y
//   const T* output_ptr(std::size_t o) const;       // multi-output graphs
//   static constexpr bool backward_reads_x, backward_reads_y;   // what backward reads (default both)
//   static constexpr bool inplace;                  // forward may write y over x
//   void reserve_infer(std::size_t n);  void forward_infer(x, y, n, T* ws);   // inference plan
//   static constexpr std::size_t infer_ws;  template <class Fn> void forward_act_infer(x, y, n, T* ws);
//                                                 // a leaf's working memory in that plan (per sample)
//   void resize_nested(std::size_t n);  void forward_ws(x, y, n, T* ws);  void backward_ws(x, y, dy, dx, n, T* ws);
//   static constexpr auto infer_plan(), train_fwd_plan(), train_bwd_plan();  // containers (core/plan.hpp)
//   static constexpr std::size_t train_values();   // kept from forward to backward, per sample
// Computation goes through a backend's entry points (cpu::conv2d_forward, ...), so a second
// backend plugs in without touching the layer (docs/architecture.md §8).
//
// Layers with K > 1 inputs (Concat, Add, Mul, multi-input Graphs) declare
// `static constexpr std::size_t arity = K;` and `using input_shapes = type_list<...>`,
// and take std::array<const T*, K> / std::array<T*, K> instead of x / dx.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "rng.hpp"
#include "shape.hpp"

namespace zoo {

class Collective;  // core/collective.hpp: a data-parallel run's process group

template <class... Ts>
struct type_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

// Element I of a type_list, found by overload resolution against indexed bases
// built once per list: a recursive peel would instantiate O(K) templates per
// lookup and O(K²) per network (docs/compile_times.md measured 3.2 GB for 300 layers).
namespace detail {
template <std::size_t I, class T>
struct indexed {
  using type = T;
};
template <class Seq, class... Ts>
struct indexer;
template <std::size_t... I, class... Ts>
struct indexer<std::index_sequence<I...>, Ts...> : indexed<I, Ts>... {};
template <std::size_t I, class T>
indexed<I, T> select_at(const indexed<I, T>&);
}  // namespace detail

template <std::size_t I, class List>
struct type_at;
template <std::size_t I, class... Ts>
struct type_at<I, type_list<Ts...>> {
  static_assert(I < sizeof...(Ts), "zoo: index past the end of a type list");
  using type = typename decltype(detail::select_at<I>(
      detail::indexer<std::index_sequence_for<Ts...>, Ts...>{}))::type;
};
template <std::size_t I, class List>
using type_at_t = typename type_at<I, List>::type;

template <class>
inline constexpr bool dependent_false = false;

// ---------------------------------------------------------------- specs
// Number of inputs a spec takes: 1 unless it says otherwise; 0 = any number ≥ 2.
template <class Spec>
constexpr std::size_t spec_arity() {
  if constexpr (requires { Spec::arity; }) return Spec::arity;
  else return 1;
}

template <class Spec>
concept LayerSpec = requires { typename Spec::template bind<float, Shape<1>>; } ||
                    requires { typename Spec::template bind<float, Shape<1>, Shape<1>>; } ||
                    requires { Spec::is_spec; };

namespace detail {
// Stands in for a layer whose binding failed one of bind_checked's static_asserts:
// it has a shape and accepts any call, so the containers around it compile on and
// one mistake prints one error, not a cascade.
template <class... Ins>
struct failed_binding {
  static constexpr bool bind_ok = false;
  static constexpr std::size_t arity = sizeof...(Ins) == 0 ? 1 : sizeof...(Ins);
  using input_shapes = type_list<std::conditional_t<is_shape_v<Ins>, Ins, Shape<1>>...>;
  using input_shape = Shape<1>;
  using output_shape = Shape<1>;
  template <class... A>
  void forward(A&&...) {}
  template <class... A>
  void backward(A&&...) {}
};
template <bool Ok, class Spec, class T, class... Ins>
struct bind_if {
  using type = typename bind_for<Spec, T, Ins...>::type;  // core/backend.hpp
};
template <class Spec, class T, class... Ins>
struct bind_if<false, Spec, T, Ins...> {
  using type = failed_binding<Ins...>;
};

template <class Spec, class T, class... Ins>
struct bind_checked {
  static constexpr bool is_spec = std::is_empty_v<Spec> || requires { Spec::is_spec; };
  static constexpr bool shapes = (is_shape_v<Ins> && ...);
  static constexpr std::size_t want = spec_arity<Spec>();
  static constexpr bool count = want == 0 ? sizeof...(Ins) >= 2 : sizeof...(Ins) == want;
  using bound = typename bind_if<is_spec && shapes && count, Spec, T, Ins...>::type;
  // Every rule is a static_assert in a function body, never in a class body: clang drops
  // the rest of a class whose static_assert fails, and each later use of it then prints
  // an error of its own. Reading `checked` runs them (the binding's, then the layer's
  // own check(), if it has one); either way `type` is the layer.
  static constexpr bool check() {
    static_assert(is_spec,
                  "zoo: a network is built from layer specs (empty structs such as "
                  "zoo::Linear<128>); this argument is not one");
    static_assert(shapes, "zoo: layers are bound to zoo::Shape<...> inputs");
    static_assert(count,
                  "zoo: this layer is given the wrong number of inputs: single-input layers read "
                  "one node (from<\"a\">), Concat/Add/Mul read two or more (from<\"a\", \"b\">)");
    if constexpr (requires { bound::check(); }) return bound::check();
    else return is_spec && shapes && count;
  }
  static constexpr bool checked = check();
  using type = std::conditional_t<checked || !checked, bound, bound>;
};
}  // namespace detail

// The concrete layer of `Spec` on inputs `Ins...` with scalar type T.
template <class Spec, class T, class... Ins>
using bind_t = typename detail::bind_checked<Spec, T, Ins...>::type;

// Whether bound layer L passed its own rules (a layer whose static_asserts on its input
// can fail says so in `bind_ok`; containers sum it up). Sequential and Graph bind what
// reads a failed layer to a stub, unchecked, so one wiring mistake prints one error: a
// Linear into Conv2d does not also fail the MaxPool2d after it on a nonsense shape.
template <class L>
constexpr bool bind_ok_of() {
  if constexpr (requires { L::bind_ok; }) return static_cast<bool>(L::bind_ok);
  else return true;
}
namespace detail {
template <bool InputsOk, class Spec, class T, class... Ins>
struct bind_after {
  using type = bind_t<Spec, T, Ins...>;
};
template <class Spec, class T, class... Ins>
struct bind_after<false, Spec, T, Ins...> {
  using type = failed_binding<Ins...>;
};
}  // namespace detail
// bind_t, or the unchecked stub when what feeds this layer already failed.
template <bool InputsOk, class Spec, class T, class... Ins>
using bind_after_t = typename detail::bind_after<InputsOk, Spec, T, Ins...>::type;

// ---------------------------------------------------------------- layers
template <class L>
constexpr std::size_t layer_arity() {
  if constexpr (requires { L::arity; }) return L::arity;
  else return 1;
}
// Bound layer L can compute bound activation A's output itself (L has forward_act, as
// Linear; A's backward reads only its output: y_only), so Sequential and Graph run the
// pair as one pass (docs/architecture.md §4).
template <class T, class L, class A>
constexpr bool fuses_with() {
  if constexpr (requires { typename A::fn; A::y_only; }) {
    if constexpr (A::y_only)
      return requires(L& l, const T* in, T* out, std::size_t n) {
        l.template forward_act<typename A::fn>(in, out, n);
      };
    else
      return false;
  } else {
    return false;
  }
}
// Bound norm layer L can compute bound activation A's output itself (L has forward_then,
// as BatchNorm) and take A's output gradient in backward (backward_then): Graph then runs
// the pair as one layer, and L's own output is never stored.
// -DZOO_FUSE_NORM=0 runs every pair as two layers (for comparisons).
#ifndef ZOO_FUSE_NORM
#define ZOO_FUSE_NORM 1
#endif
template <class T, class L, class A>
constexpr bool norm_fuses_with() {
  if constexpr (!ZOO_FUSE_NORM) {
    return false;
  } else if constexpr (requires { typename A::fn; }) {
    return requires(L& l, const T* in, T* out, std::size_t n) {
      l.template forward_then<typename A::fn>(in, out, n);
      l.template backward_then<typename A::fn, true>(in, in, out, n);
    };
  } else {
    return false;
  }
}
// L writes its input gradient outright (dx = …, not +=) through backward_overwrite.
// Asked through this namespace-scope concept, never through a requires-expression with
// parameters inside a container: nvcc 13's front end leaves the enclosing class's pack
// unexpanded in such parameter lists (type_at<I, type_list<Ls...>> with Ls unsubstituted).
template <class L, class T>
concept overwrites_dx = requires(L& l, const T* x, T* dx, std::size_t n) {
  l.backward_overwrite(x, x, x, dx, n);
};
template <class L>
constexpr std::size_t num_params_of() {
  if constexpr (requires { L::num_params; }) return L::num_params;
  else return 0;
}
template <class L>
constexpr std::size_t num_buffers_of() {
  if constexpr (requires { L::num_buffers; }) return L::num_buffers;
  else return 0;
}
template <class L>
constexpr double flops_of() {
  if constexpr (requires { L::flops; }) return static_cast<double>(L::flops);
  else return 0.0;
}

// Working memory, in values of T per sample, that a layer needs while an inference forward
// runs: a container's planned arena (core/plan.hpp), or what a leaf declares as infer_ws
// (Linear's transposed panels); other leaves keep their own scratch.
// A container's plan is computed once per type (a variable template) and read from there.
namespace detail {
template <class L>
inline constexpr auto infer_plan_v = L::infer_plan();
}  // namespace detail
template <class L>
constexpr std::size_t infer_scratch_of() {
  if constexpr (requires { L::infer_plan(); }) return detail::infer_plan_v<L>.peak;
  else if constexpr (requires { L::infer_ws; }) return L::infer_ws;  // a leaf's, in the arena
  else return 0;
}
// Whether forward may write its output over its input (element-wise layers): a plan then
// gives the output the input's memory where the input is read last by this layer.
template <class L>
constexpr bool computes_in_place() {
  if constexpr (requires { L::inplace; }) return static_cast<bool>(L::inplace);
  else return false;
}
// Values of T per sample that a layer keeps for training beyond its output: a container's
// activations and gradients, a leaf's backward cache (GroupNorm's x̂, MaxPool's argmax).
template <class L>
constexpr std::size_t train_values_of() {
  if constexpr (requires { L::train_values(); }) return L::train_values();
  else return 0;
}

// What a layer's backward reads besides dy (a training plan keeps only values some backward
// reads): its inputs x (Linear and Conv for dW, BatchNorm to recompute x̂) and its output y
// (ReLU, Tanh, Sigmoid). A layer that does not say reads both; one that caches what it
// needs (GroupNorm's x̂, MaxPool's argmax) reads neither.
// Containers answer through functions (their answer depends on members declared later).
template <class L>
constexpr bool backward_reads_x_of() {
  if constexpr (requires { L::backward_reads_input(); }) return L::backward_reads_input();
  else if constexpr (requires { L::backward_reads_x; }) return static_cast<bool>(L::backward_reads_x);
  else return true;
}
template <class L>
constexpr bool backward_reads_y_of() {
  if constexpr (requires { L::backward_reads_output(); }) return L::backward_reads_output();
  else if constexpr (requires { L::backward_reads_y; }) return static_cast<bool>(L::backward_reads_y);
  else return true;
}
// The same for input k of a multi-input layer that can tell (a Graph reads only the inputs
// some node's backward reads); any other layer answers for all its inputs at once.
template <class L>
constexpr bool backward_reads_x_of(std::size_t k) {
  if constexpr (requires { L::backward_reads_input_at(k); }) return L::backward_reads_input_at(k);
  else return backward_reads_x_of<L>();
}
// Working memory, in values of T per sample, a layer needs while its training forward or
// backward runs: a container's values that no backward reads, and its gradients.
// The forward's plan and the backward's never run at once, so one working memory of the
// larger peak serves both; each is computed once per type, in a constant evaluation of its own.
namespace detail {
template <class L>
inline constexpr auto train_fwd_plan_v = L::train_fwd_plan();
template <class L>
inline constexpr auto train_bwd_plan_v = L::train_bwd_plan();
}  // namespace detail
template <class L>
constexpr std::size_t train_scratch_of() {
  if constexpr (requires { L::train_fwd_plan(); }) {
    constexpr std::size_t f = detail::train_fwd_plan_v<L>.peak, b = detail::train_bwd_plan_v<L>.peak;
    return f > b ? f : b;
  } else {
    return 0;
  }
}

// One line of a model summary, as YOLOv5's and Keras's.
struct SummaryRow {
  std::string name;
  std::string type;
  std::string output_shape;
  std::size_t params = 0;
  double flops = 0;
};

namespace layer_ops {
template <class L, class T>
void bind_params(L& l, T*& p, T*& g) {
  if constexpr (requires { l.bind_params(p, g); }) l.bind_params(p, g);
}
template <class L, class T>
void bind_buffers(L& l, T*& b) {
  if constexpr (requires { l.bind_buffers(b); }) l.bind_buffers(b);
}
// Layers that draw noise (Reparameterize, dropout) take the model's noise stream,
// so a checkpoint that saves that one stream resumes them exactly.
template <class L>
void bind_rng(L& l, Rng* r) {
  if constexpr (requires { l.bind_rng(r); }) l.bind_rng(r);
}
// Layers whose statistics span the batch (BatchNorm) take the process group of a
// data-parallel run, to reduce them over every rank's share (null: this process only).
template <class L>
void bind_sync(L& l, Collective* c) {
  if constexpr (requires { l.bind_sync(c); }) l.bind_sync(c);
}
template <class L>
void init(L& l, Rng& r) {
  if constexpr (requires { l.init(r); }) l.init(r);
}
template <class L>
void resize(L& l, std::size_t n) {
  if constexpr (requires { l.resize(n); }) l.resize(n);
}
// Sizes a layer inside a container: the container gives it working memory (ws) on each
// call, so it allocates none of its own; layers without the member size as resize.
template <class L>
void resize_nested(L& l, std::size_t n) {
  if constexpr (requires { l.resize_nested(n); }) l.resize_nested(n);
  else resize(l, n);
}
// A training forward and backward with working memory ws (train_scratch_of<L>() · n values).
template <class L, class X, class T>
void forward_ws(L& l, const X& x, T* y, std::size_t n, T* ws) {
  if constexpr (requires { l.forward_ws(x, y, n, ws); }) l.forward_ws(x, y, n, ws);
  else l.forward(x, y, n);
}
template <class L, class X, class T, class DX>
void backward_ws(L& l, const X& x, const T* y, const T* dy, const DX& dx, std::size_t n, T* ws) {
  if constexpr (requires { l.backward_ws(x, y, dy, dx, n, ws); }) l.backward_ws(x, y, dy, dx, n, ws);
  else l.backward(x, y, dy, dx, n);
}
// Sizes what an inference forward needs and nothing for backward (no activation or
// gradient buffers, no backward caches); layers without the member size everything.
template <class L>
void reserve_infer(L& l, std::size_t n) {
  if constexpr (requires { l.reserve_infer(n); }) l.reserve_infer(n);
  else resize(l, n);
}
// An inference forward inside a planned arena: ws is this layer's working memory
// (infer_scratch_of<L>() · n values). X is const T* or, for several inputs, an array.
template <class L, class X, class T>
void forward_infer(L& l, const X& x, T* y, std::size_t n, T* ws) {
  if constexpr (requires { l.forward_infer(x, y, n, ws); }) l.forward_infer(x, y, n, ws);
  else l.forward(x, y, n);
}
// A layer fused with activation Fn (fuses_with) in a planned arena.
template <class Fn, class L, class T>
void forward_act_infer(L& l, const T* x, T* y, std::size_t n, T* ws) {
  if constexpr (requires { l.template forward_act_infer<Fn>(x, y, n, ws); })
    l.template forward_act_infer<Fn>(x, y, n, ws);
  else
    l.template forward_act<Fn>(x, y, n);
}
template <class L>
void set_training(L& l, bool t) {
  if constexpr (requires { l.set_training(t); }) l.set_training(t);
}
template <class L>
void set_frozen(L& l, bool f) {
  if constexpr (requires { l.set_frozen(f); }) l.set_frozen(f);
}
template <class L, class F>
void visit_params(L& l, const std::string& prefix, F&& f) {
  if constexpr (requires { l.visit_params(prefix, f); }) l.visit_params(prefix, f);
}
template <class L, class F>
void visit_buffers(L& l, const std::string& prefix, F&& f) {
  if constexpr (requires { l.visit_buffers(prefix, f); }) l.visit_buffers(prefix, f);
}
template <class L>
std::string type_name(const L& l) {
  if constexpr (requires { L::name(); }) return std::string(L::name());
  else {
    (void)l;
    return "layer";
  }
}
template <class L>
void summary(const L& l, const std::string& name, std::vector<SummaryRow>& rows) {
  if constexpr (requires { l.summary(name, rows); }) l.summary(name, rows);
  else
    rows.push_back({name, type_name(l), L::output_shape::str(), num_params_of<L>(), flops_of<L>()});
}
// Joins "encoder" and "0" into "encoder.0"; an empty prefix adds nothing.
inline std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace layer_ops

// Storage for indexed bases: holds a list of layers without std::tuple
// (whose recursive instantiation dominates compile time for long lists).
template <std::size_t I, class L>
struct Slot {
  L value;
};
template <class Seq, class... Ls>
struct Slots;
template <std::size_t... I, class... Ls>
struct Slots<std::index_sequence<I...>, Ls...> : Slot<I, Ls>... {};

template <std::size_t I, class L>
L& slot_get(Slot<I, L>& s) {
  return s.value;
}
template <std::size_t I, class L>
const L& slot_get(const Slot<I, L>& s) {
  return s.value;
}

}  // namespace zoo

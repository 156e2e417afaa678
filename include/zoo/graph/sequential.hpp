// zoo/graph/sequential.hpp — a chain of layers, as torch.nn.Sequential.
//
//   x ─▶ L0 ─▶ a0 ─▶ L1 ─▶ a1 ─▶ … ─▶ L(K−1) ─▶ y
//
// Each spec is bound to the previous layer's output shape, so in-features and
// in-channels are never restated. The chain owns the intermediate activations
// a_i and their gradients da_i (sized once per batch size); the last layer
// writes straight into the caller's y. Parameters are named "<i>.weight".
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/plan.hpp"
#include "../core/tensor.hpp"
#ifdef ZOO_PROFILE
#include "../core/profile.hpp"
#endif

namespace zoo {

namespace detail {
template <class T, class In, class Done, class... Specs>
struct chain;
template <class T, class In, class... Done>
struct chain<T, In, type_list<Done...>> {
  using type = type_list<Done...>;
};
template <class T, class In, class... Done, class S, class... Rest>
struct chain<T, In, type_list<Done...>, S, Rest...> {
  using L = bind_after_t<(bind_ok_of<Done>() && ...), S, T, In>;
  using type = typename chain<T, typename L::output_shape, type_list<Done..., L>, Rest...>::type;
};

template <class T, class In, class Layers>
struct SequentialLayer;

template <class Tag, class In, class... Ls>
struct SequentialLayer<Tag, In, type_list<Ls...>> {
  using T = scalar_t<Tag>;  // Tag: the scalar type, or a backend's on<B, T> (core/backend.hpp)
  using mem = backend_ops<Tag>;
  static constexpr std::size_t K = sizeof...(Ls);
  using layers = type_list<Ls...>;
  using input_shape = In;
  using output_shape = typename type_at_t<K - 1, layers>::output_shape;
  static constexpr bool bind_ok = (bind_ok_of<Ls>() && ...);
  static constexpr std::size_t num_params = (num_params_of<Ls>() + ...);
  static constexpr std::size_t num_buffers = (num_buffers_of<Ls>() + ...);
  static constexpr double flops = (flops_of<Ls>() + ...);
  static constexpr const char* name() { return "Sequential"; }
  template <std::size_t I>
  using layer_t = type_at_t<I, layers>;

  Slots<std::index_sequence_for<Ls...>, Ls...> slots;
  // a_i, the output of layer i (N, shape_i), kept only when a backward reads it (saved<i>());
  // the others live in the working memory ws during forward, the gradients da_i during
  // backward (train_fwd_plan(), train_bwd_plan()). ws is the caller's; a chain run on its own uses own_ws.
  std::array<typename mem::template buffer<T>, K - 1> act;
  typename mem::template buffer<T> own_ws;

  template <std::size_t I>
  auto& get() {
    return slot_get<I>(slots);
  }
  template <std::size_t I>
  const auto& get() const {
    return slot_get<I>(slots);
  }
  template <class F>
  void each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(get<I>()), ...); }(
        std::make_index_sequence<K>{});
  }

  void bind_params(T*& p, T*& g) {
    each([&](auto& l) { layer_ops::bind_params(l, p, g); });
  }
  void bind_buffers(T*& b) {
    each([&](auto& l) { layer_ops::bind_buffers(l, b); });
  }
  void init(Rng& r) {
    each([&](auto& l) { layer_ops::init(l, r); });
  }
  void bind_rng(Rng* r) {
    each([&](auto& l) { layer_ops::bind_rng(l, r); });
  }
  void bind_sync(Collective* c) {
    each([&](auto& l) { layer_ops::bind_sync(l, c); });
  }
  void set_training(bool t) {
    each([&](auto& l) { layer_ops::set_training(l, t); });
  }
  void set_frozen(bool f) {
    each([&](auto& l) { layer_ops::set_frozen(l, f); });
  }
  void resize_nested(std::size_t n) {
    static_assert(plan::disjoint(detail::train_fwd_plan_v<SequentialLayer>.intervals,
                                 detail::train_fwd_plan_v<SequentialLayer>.placement) &&
                      plan::disjoint(detail::train_bwd_plan_v<SequentialLayer>.intervals,
                                     detail::train_bwd_plan_v<SequentialLayer>.placement),
                  "zoo: a memory plan lets two live values overlap (a bug in core/plan.hpp)");
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (act[I].resize(saved<I>() ? n * layer_t<I>::output_shape::size : 0), ...);
    }(std::make_index_sequence<K - 1>{});
    each([&](auto& l) { layer_ops::resize_nested(l, n); });
  }
  void resize(std::size_t n) {
    resize_nested(n);
    own_ws.resize(train_scratch() * n);
  }

  // Layer I computes layer I+1's output as well when I has forward_act (a Linear) and
  // I+1 is an activation whose backward reads only its output (ReLU, Tanh, Sigmoid,
  // LeakyReLU): the pre-activation a_I is then never written, and nothing reads it.
  template <std::size_t I>
  static constexpr bool fuses() {
    if constexpr (I + 1 >= K) return false;
    else return fuses_with<T, layer_t<I>, layer_t<I + 1>>();
  }

  void forward(const T* x, T* y, std::size_t n) { forward_ws(x, y, n, own_ws.data()); }
  void forward_ws(const T* x, T* y, std::size_t n, T* ws) {
    if constexpr (plan::kPoison) mem::poison(ws, train_scratch() * n);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (forward_one<I>(x, y, n, ws), ...);
    }(std::make_index_sequence<K>{});
  }

  // ---- training plan. Value i is kept when layer i's backward reads its y or layer i + 1's
  // its x; the others are placed in ws for the forward (as in inference). Backward, at
  // positions r = K − 1 − i: da_i lives from layer i + 1's backward (which writes it) to
  // layer i's (which reads it); each layer's working memory at its own position.
  template <std::size_t I>
  static constexpr bool saved() {
    if constexpr (I + 1 >= K || fuses<I>()) return false;
    else return backward_reads_y_of<layer_t<I>>() || backward_reads_x_of<layer_t<I + 1>>();
  }
  static constexpr plan::Nodes<K> train_fwd_nodes() {
    plan::Nodes<K> nd{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((nd.out[I] = I == K - 1 || fuses<I>() || saved<I>()
                        ? 0
                        : plan::round_up(layer_t<I>::output_shape::size),
        nd.ws[I] = fused_away<I>() ? 0 : plan::round_up(train_scratch_of<layer_t<I>>()),
        nd.made[I] = fused_away<I>() ? I - 1 : I, nd.last[I] = I + 1 < K ? I + 1 : I,
        nd.inplace_of[I] = train_in_place<I>() ? I - 1 : I),
       ...);
    }(std::make_index_sequence<K>{});
    return nd;
  }
  static constexpr plan::Nodes<K> train_bwd_nodes() {  // indexed by position r = K − 1 − i
    plan::Nodes<K> nd{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((nd.out[K - 1 - I] = I == K - 1 ? 0 : plan::round_up(layer_t<I>::output_shape::size),
        nd.ws[K - 1 - I] = plan::round_up(train_scratch_of<layer_t<I>>()),
        nd.made[K - 1 - I] = I == K - 1 ? 0 : K - 2 - I, nd.last[K - 1 - I] = K - 1 - I,
        nd.inplace_of[K - 1 - I] = K - 1 - I),
       ...);
    }(std::make_index_sequence<K>{});
    return nd;
  }
  static constexpr plan::NodePlan<K> train_fwd_plan() { return plan::plan_nodes(train_fwd_nodes()); }
  static constexpr plan::NodePlan<K> train_bwd_plan() { return plan::plan_nodes(train_bwd_nodes()); }
  static constexpr std::size_t train_scratch() { return train_scratch_of<SequentialLayer>(); }
  static constexpr bool backward_reads_input() { return backward_reads_x_of<layer_t<0>>(); }
  static constexpr bool backward_reads_output() {
    return backward_reads_y_of<layer_t<K - 1>>();
  }

  // ---- inference in a planned arena (core/plan.hpp). Value i is layer i's output; it is
  // read by layer i + 1 (the last layer writes the caller's y). A Linear fused with its
  // activation writes the activation's value; an element-wise layer whose input is a value
  // of this chain writes over it (that input dies there). When the last layer is
  // element-wise, the one before writes y and the last runs over it (tail_in_place): the
  // chain's final value takes no arena at all (Linear → ReLU → BatchNorm keeps only y).
  static constexpr bool tail_in_place() {
    if constexpr (K < 2) return false;
    else return computes_in_place<layer_t<K - 1>>() && !fused_away<K - 1>();
  }
  // Whether layer I's inference output is the caller's y.
  template <std::size_t I>
  static constexpr bool writes_y() {
    return I == K - 1 || (I + 2 == K && tail_in_place());
  }
  static constexpr plan::Nodes<K> infer_nodes() {
    plan::Nodes<K> nd{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((nd.out[I] = writes_y<I>() || fuses<I>() ? 0 : plan::round_up(layer_t<I>::output_shape::size),
        nd.ws[I] = fused_away<I>() ? 0 : plan::round_up(infer_scratch_of<layer_t<I>>()),
        nd.made[I] = fused_away<I>() ? I - 1 : I, nd.last[I] = I + 1 < K ? I + 1 : I,
        nd.inplace_of[I] = in_place<I>() && !writes_y<I>() ? I - 1 : I),
       ...);
    }(std::make_index_sequence<K>{});
    return nd;
  }
  static constexpr plan::NodePlan<K> infer_plan() { return plan::plan_nodes(infer_nodes()); }
  static constexpr std::size_t infer_scratch() { return infer_scratch_of<SequentialLayer>(); }
  // What training keeps from forward to backward, per sample: the saved values and what the
  // layers keep (working memory is train_scratch(), the caller's).
  static constexpr std::size_t train_values() {
    std::size_t v = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((v += (saved<I>() ? layer_t<I>::output_shape::size : 0) + train_values_of<layer_t<I>>()),
       ...);
    }(std::make_index_sequence<K>{});
    return v;
  }

  void reserve_infer(std::size_t n) {
    static_assert(plan::disjoint(detail::infer_plan_v<SequentialLayer>.intervals,
                                 detail::infer_plan_v<SequentialLayer>.placement),
                  "zoo: a memory plan lets two live values overlap (a bug in core/plan.hpp)");
    each([&](auto& l) { layer_ops::reserve_infer(l, n); });
  }
  void forward_infer(const T* x, T* y, std::size_t n, T* ws) {
    if constexpr (plan::kPoison) mem::poison(ws, infer_scratch() * n);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (infer_one<I>(x, y, n, ws), ...);
    }(std::make_index_sequence<K>{});
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    backward_ws(x, y, dy, dx, n, own_ws.data());
  }
  void backward_ws(const T* x, const T* y, const T* dy, T* dx, std::size_t n, T* ws) {
    // Whatever forward left in ws is dead: a backward that read it would read NaN.
    if constexpr (plan::kPoison) mem::poison(ws, train_scratch() * n);
    [&]<std::size_t... R>(std::index_sequence<R...>) {
      (backward_one<K - 1 - R>(x, y, dy, dx, n, ws), ...);
    }(std::make_index_sequence<K>{});
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::visit_params(get<I>(), layer_ops::join(prefix, std::to_string(I)), f), ...);
    }(std::make_index_sequence<K>{});
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::visit_buffers(get<I>(), layer_ops::join(prefix, std::to_string(I)), f), ...);
    }(std::make_index_sequence<K>{});
  }
  void summary(const std::string& prefix, std::vector<SummaryRow>& rows) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::summary(get<I>(), layer_ops::join(prefix, std::to_string(I)), rows), ...);
    }(std::make_index_sequence<K>{});
  }

 private:
  // Where value I is in training: y for the last layer, act[I] when saved, else in ws.
  template <std::size_t I>
  T* train_value(T* y, T* ws, std::size_t n) {
    if constexpr (I == K - 1) return y;
    else if constexpr (saved<I>()) return act[I].data();
    else return ws + detail::train_fwd_plan_v<SequentialLayer>.out[I] * n;
  }
  template <std::size_t I>
  T* grad_at(std::size_t n, T* ws) {
    return ws + detail::train_bwd_plan_v<SequentialLayer>.out[K - 1 - I] * n;
  }
  template <std::size_t I>
  void forward_one(const T* x, T* y, std::size_t n, T* ws) {
    constexpr const auto& F = detail::train_fwd_plan_v<SequentialLayer>;
    if constexpr (!fused_away<I>()) {  // else layer I-1 wrote this layer's output
#ifdef ZOO_PROFILE
      profile::Scope timed(&get<I>(), std::to_string(I), layer_ops::type_name(get<I>()).c_str(),
                           !requires(layer_t<I>& l) { l.each([](auto&) {}); }, false);
#endif
      const T* in;
      if constexpr (I == 0) in = x;
      else in = train_value<I - 1>(y, ws, n);
      if constexpr (fuses<I>())
        get<I>().template forward_act<typename layer_t<I + 1>::fn>(in, train_value<I + 1>(y, ws, n),
                                                                   n);
      else
        layer_ops::forward_ws(get<I>(), in, train_value<I>(y, ws, n), n, ws + F.ws[I] * n);
    }
    if constexpr (plan::kPoison) poison_after(F, I, ws, n);
  }
  // After position r of a plan: the values last read there (in-place chains end at their
  // last member), and that position's working memory.
  template <class NP>
  static void poison_after(const NP& p, std::size_t r, T* ws, std::size_t n) {
    for (std::size_t v = 0; v < K; ++v) {
      const auto& iv = p.intervals[v];
      if (p.root[v] == v && iv.size > 0 && iv.last == r && iv.last != iv.first)
        mem::poison(ws + p.out[v] * n, iv.size * n);
    }
    mem::poison(ws + p.ws[r] * n, p.intervals[K + r].size * n);
  }
  template <std::size_t I>
  static constexpr bool train_in_place() {
    if constexpr (!in_place<I>()) return false;
    else return !saved<I>() && !saved<I - 1>();
  }

  template <std::size_t I>
  static constexpr bool fused_away() {
    if constexpr (I == 0) return false;
    else return fuses<I - 1>();
  }
  template <std::size_t I>
  static constexpr bool in_place() {
    if constexpr (I == 0 || I == K - 1) return false;
    else return computes_in_place<layer_t<I>>() && !fuses<I - 1>() && !fuses<I>();
  }
  template <std::size_t I>
  T* value(const T* x, T* y, T* ws, std::size_t n) {
    (void)x;
    if constexpr (writes_y<I>()) return y;
    else return ws + detail::infer_plan_v<SequentialLayer>.out[I] * n;
  }
  template <std::size_t I>
  void infer_one(const T* x, T* y, std::size_t n, T* ws) {
    if constexpr (fused_away<I>()) return;
    constexpr const auto& P = detail::infer_plan_v<SequentialLayer>;
#ifdef ZOO_PROFILE
    profile::Scope timed(&get<I>(), std::to_string(I), layer_ops::type_name(get<I>()).c_str(),
                         !requires(layer_t<I>& l) { l.each([](auto&) {}); }, false);
#endif
    const T* in;
    if constexpr (I == 0) in = x;
    else in = value<I - 1>(x, y, ws, n);
    if constexpr (fuses<I>())
      layer_ops::forward_act_infer<typename layer_t<I + 1>::fn>(get<I>(), in,
                                                                 value<I + 1>(x, y, ws, n), n,
                                                                 ws + P.ws[I] * n);
    else
      layer_ops::forward_infer(get<I>(), in, value<I>(x, y, ws, n), n, ws + P.ws[I] * n);
    if constexpr (plan::kPoison) poison_after(P, I, ws, n);
  }

  template <std::size_t I>
  void backward_one(const T* x, const T* y, const T* dy, T* dx, std::size_t n, T* ws) {
    constexpr const auto& B = detail::train_bwd_plan_v<SequentialLayer>;
#ifdef ZOO_PROFILE
    profile::Scope timed(&get<I>(), std::to_string(I), layer_ops::type_name(get<I>()).c_str(),
                         !requires(layer_t<I>& l) { l.each([](auto&) {}); }, true);
#endif
    // Values no backward reads are stale here; the layers that get them do not read them.
    T* yy = const_cast<T*>(y);
    const T* in;
    if constexpr (I == 0) in = x;
    else in = train_value<I - 1>(yy, ws, n);
    const T* out = train_value<I>(yy, ws, n);
    const T* dout;
    if constexpr (I == K - 1) dout = dy;
    else dout = grad_at<I>(n, ws);
    T* w = ws + B.ws[K - 1 - I] * n;
    if constexpr (I == 0) {
      layer_ops::backward_ws(get<I>(), in, out, dout, dx, n, w);
    } else {
      // da_{I-1} is this chain's own: a layer that can write it outright (Linear,
      // activations) does so; for the others it is cleared first, as backward adds.
      T* din = grad_at<I - 1>(n, ws);
      if constexpr (overwrites_dx<layer_t<I>, T>) {
        get<I>().backward_overwrite(in, out, dout, din, n);
      } else {
        mem::fill(din, n * layer_t<I>::input_shape::size, T(0));
        layer_ops::backward_ws(get<I>(), in, out, dout, din, n, w);
      }
    }
    if constexpr (plan::kPoison) poison_after(B, K - 1 - I, ws, n);
  }
};
}  // namespace detail

template <class... Specs>
struct Sequential {
  static constexpr bool backend_aware = true;  // binds its layers for the model's backend
  static_assert(sizeof...(Specs) > 0, "zoo::Sequential: give it at least one layer");
  template <class T, class In>
  using bind =
      detail::SequentialLayer<T, In, typename detail::chain<T, In, type_list<>, Specs...>::type>;
};

}  // namespace zoo

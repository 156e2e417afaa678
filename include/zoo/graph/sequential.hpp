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

template <class T, class In, class... Ls>
struct SequentialLayer<T, In, type_list<Ls...>> {
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
  std::array<Buffer<T>, K - 1> act;   // a_i: output of layer i, (N, shape_i)
  std::array<Buffer<T>, K - 1> grad;  // da_i

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
  void resize(std::size_t n) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((act[I].resize(n * layer_t<I>::output_shape::size),
        grad[I].resize(n * layer_t<I>::output_shape::size)),
       ...);
    }(std::make_index_sequence<K - 1>{});
    each([&](auto& l) { layer_ops::resize(l, n); });
  }

  // Layer I computes layer I+1's output as well when I has forward_act (a Linear) and
  // I+1 is an activation whose backward reads only its output (ReLU, Tanh, Sigmoid,
  // LeakyReLU): the pre-activation a_I is then never written, and nothing reads it.
  template <std::size_t I>
  static constexpr bool fuses() {
    if constexpr (I + 1 >= K) return false;
    else return fuses_with<T, layer_t<I>, layer_t<I + 1>>();
  }

  void forward(const T* x, T* y, std::size_t n) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (forward_one<I>(x, y, n), ...);
    }(std::make_index_sequence<K>{});
  }

  void backward(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
    [&]<std::size_t... R>(std::index_sequence<R...>) {
      (backward_one<K - 1 - R>(x, y, dy, dx, n), ...);
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
  template <std::size_t I>
  void forward_one(const T* x, T* y, std::size_t n) {
    if constexpr (I > 0) {
      if constexpr (fuses<I - 1>()) return;  // layer I-1 wrote this layer's output
    }
#ifdef ZOO_PROFILE
    profile::Scope timed(&get<I>(), std::to_string(I), layer_ops::type_name(get<I>()).c_str(),
                         !requires(layer_t<I>& l) { l.each([](auto&) {}); }, false);
#endif
    const T* in = I == 0 ? x : act[I - 1].data();
    if constexpr (fuses<I>()) {
      T* out;
      if constexpr (I + 1 == K - 1) out = y;
      else out = act[I + 1].data();
      get<I>().template forward_act<typename layer_t<I + 1>::fn>(in, out, n);
    } else {
      get<I>().forward(in, I == K - 1 ? y : act[I].data(), n);
    }
  }

  template <std::size_t I>
  void backward_one(const T* x, const T* y, const T* dy, T* dx, std::size_t n) {
#ifdef ZOO_PROFILE
    profile::Scope timed(&get<I>(), std::to_string(I), layer_ops::type_name(get<I>()).c_str(),
                         !requires(layer_t<I>& l) { l.each([](auto&) {}); }, true);
#endif
    const T* in = I == 0 ? x : act[I - 1].data();
    const T* out = I == K - 1 ? y : act[I].data();
    const T* dout = I == K - 1 ? dy : grad[I].data();
    if constexpr (I == 0) {
      get<I>().backward(in, out, dout, dx, n);
    } else {
      // da_{I-1} is this chain's own: a layer that can write it outright (Linear,
      // activations) does so; for the others it is cleared first, as backward adds.
      T* din = grad[I - 1].data();
      if constexpr (overwrites_dx<layer_t<I>, T>) {
        get<I>().backward_overwrite(in, out, dout, din, n);
      } else {
        parallel_fill(din, n * layer_t<I>::input_shape::size, T(0));
        get<I>().backward(in, out, dout, din, n);
      }
    }
  }
};
}  // namespace detail

template <class... Specs>
struct Sequential {
  static_assert(sizeof...(Specs) > 0, "zoo::Sequential: give it at least one layer");
  template <class T, class In>
  using bind =
      detail::SequentialLayer<T, In, typename detail::chain<T, In, type_list<>, Specs...>::type>;
};

}  // namespace zoo

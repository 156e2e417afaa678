// zoo/core/backend.hpp — how a network type is bound for a backend other than the CPU.
//
// A network is bound with a scalar type: `bind_t<Spec, float, Shape<784>>` gives CPU layers.
// Binding with the tag `on<Backend, float>` instead gives the same network for that backend:
//
//   * containers (Sequential, Graph: specs that declare `backend_aware`) are bound with the
//     tag, so they hand it on to their children and keep their saved values in the
//     backend's memory (`backend_ops<Tag>::buffer`, `fill`, `poison`);
//   * every other spec is bound for the CPU first, and the CPU layer L is handed to
//     `Backend::template layer<L>`: the backend's implementation of that layer, which reads
//     L's compile-time facts (shapes, parameter counts, what backward reads) and runs its
//     own kernels on the backend's pointers.
//
// So a model type is written once and its wiring, shapes and memory plan are the CPU's
// (docs/gpu.md). The CPU needs none of this: for a plain scalar type every alias below is
// the CPU's own type or function.
#pragma once
#include <cstddef>
#include <limits>
#include <type_traits>

#include "parallel.hpp"
#include "plan.hpp"
#include "tensor.hpp"

namespace zoo {

// The binding tag of backend B with scalar type T (zoo::cuda::device<float> is
// on<cuda::backend, float>).
template <class B, class T>
struct on {
  using backend = B;
  using scalar = T;
};

template <class Tag>
struct tag_traits {
  using scalar = Tag;
  static constexpr bool host = true;
};
template <class B, class T>
struct tag_traits<on<B, T>> {
  using scalar = T;
  using backend = B;
  static constexpr bool host = false;
};
// The arithmetic type of a binding tag: float for float and for on<B, float>.
template <class Tag>
using scalar_t = typename tag_traits<Tag>::scalar;
template <class Tag>
inline constexpr bool is_host_tag = tag_traits<Tag>::host;

// The memory operations a container performs itself: its saved values' storage, clearing
// a gradient before the first backward that adds into it, and the plan check's poisoning.
template <class Tag>
struct backend_ops {
  template <class T>
  using buffer = Buffer<T>;
  template <class T>
  static void fill(T* p, std::size_t len, T v) {
    parallel_fill(p, len, v);
  }
  template <class T>
  static void copy(const T* s, std::size_t len, T* d) {
    parallel_copy(s, len, d);
  }
  template <class T>
  static void poison(T* p, std::size_t len) {
    plan::poison(p, len);
  }
};
template <class B, class T0>
struct backend_ops<on<B, T0>> {
  template <class T>
  using buffer = typename B::template buffer<T>;
  template <class T>
  static void fill(T* p, std::size_t len, T v) {
    B::fill(p, len, v);
  }
  template <class T>
  static void copy(const T* s, std::size_t len, T* d) {
    B::copy(s, len, d);
  }
  template <class T>
  static void poison(T* p, std::size_t len) {
    if (plan::poison_enabled()) B::fill(p, len, std::numeric_limits<T>::quiet_NaN());
  }
};

namespace detail {
// Binding for a backend: containers take the tag, leaves are the backend's version of
// their CPU layer. A spec whose bind is itself a container (a YOLO block, a named Graph)
// declares backend_aware too.
template <class Spec>
concept backend_aware_spec = requires { requires Spec::backend_aware; };

template <class Spec, class Tag, class... Ins>
struct bind_for {
  using type = typename Spec::template bind<Tag, Ins...>;
};
template <class Spec, class B, class T, class... Ins>
  requires(!backend_aware_spec<Spec>)
struct bind_for<Spec, on<B, T>, Ins...> {
  using type = typename B::template layer<typename Spec::template bind<T, Ins...>>;
};
}  // namespace detail

}  // namespace zoo

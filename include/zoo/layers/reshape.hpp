// zoo/layers/reshape.hpp — Reshape<dims...> and Flatten, as view()/nn.Flatten.
//
// Row-major data is already laid out for the new shape, so forward and backward
// are copies (dx += dy); the sizes must multiply out, checked at bind time.
#pragma once
#include <algorithm>

#include "../core/layer.hpp"

namespace zoo {

template <class T, class In, class Out>
struct ReshapeLayer {
  static constexpr bool bind_ok = In::size == Out::size;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(In::size == Out::size,
                  "zoo::Reshape: the target shape does not hold the same number of values as the "
                  "input (the product of the Reshape<...> sizes must equal the input's per-sample "
                  "size)");
    return bind_ok;
  }
  using input_shape = In;
  using output_shape = Out;
  static constexpr const char* name() { return "Reshape"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;
  // A view: where its input dies here, a plan gives y x's memory and nothing moves.
  static constexpr bool inplace = true;
  void forward(const T* x, T* y, std::size_t n) {
    if (x != y) std::copy(x, x + n * In::size, y);
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n) {
    if (!dx) return;
    for (std::size_t i = 0; i < n * In::size; ++i) dx[i] += dy[i];
  }
};

template <std::size_t... Dims>
struct Reshape {
  template <class T, class In>
  using bind = ReshapeLayer<T, In, Shape<Dims...>>;
};

struct Flatten {
  template <class T, class In>
  using bind = ReshapeLayer<T, In, Shape<In::size>>;
};

}  // namespace zoo

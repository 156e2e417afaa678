// zoo/layers/concat.hpp — torch.cat(..., dim=1) of two or more inputs.
//
// Images concatenate channels and must agree in height and width; flat inputs
// concatenate features. Forward copies each input's slab of every sample into
// place; backward adds the matching slab of dy into each input's gradient.
#pragma once
#include <array>
#include <cstring>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"

namespace zoo {

namespace detail {
template <class... Ins>
struct concat_shape {
  using first = type_at_t<0, type_list<Ins...>>;
  static constexpr bool same_rank = ((Ins::rank == first::rank) && ...);
  static constexpr bool same_hw = ((Ins::H == first::H && Ins::W == first::W) && ...);
  static constexpr std::size_t channels = (Ins::C + ...);
  using type = std::conditional_t<first::rank == 3, Shape<channels, first::H, first::W>,
                                  Shape<channels>>;
};

template <class T, class... Ins>
struct ConcatLayer {
  using cs = concat_shape<Ins...>;
  static constexpr bool bind_ok = cs::same_rank && cs::same_hw;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(cs::same_rank,
                  "zoo::Concat: all inputs must be images (C, H, W) or all flat (F); flatten or "
                  "reshape one of them first");
    static_assert(cs::same_hw,
                  "zoo::Concat: inputs have different spatial sizes (H, W); channels can only be "
                  "concatenated when every input has the same height and width");
    return bind_ok;
  }
  static constexpr std::size_t arity = sizeof...(Ins);
  using input_shapes = type_list<Ins...>;
  using output_shape = typename cs::type;
  static constexpr std::array<std::size_t, arity> sizes{Ins::size...};
  static constexpr const char* name() { return "Concat"; }
  static constexpr bool backward_reads_x = false, backward_reads_y = false;

  // Samples are split across threads: in yolov5n every C3 and the head concatenate
  // megabytes a step.
  void forward(const std::array<const T*, arity>& x, T* y, std::size_t n) {
    parallel_for(n, output_shape::size, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        T* yp = y + i * output_shape::size;
        for (std::size_t k = 0; k < arity; ++k) {
          std::memcpy(yp, x[k] + i * sizes[k], sizes[k] * sizeof(T));
          yp += sizes[k];
        }
      }
    });
  }
  void backward(const std::array<const T*, arity>&, const T*, const T* dy,
                const std::array<T*, arity>& dx, std::size_t n) {
    parallel_for(n, output_shape::size, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        const T* d = dy + i * output_shape::size;
        for (std::size_t k = 0; k < arity; ++k) {
          if (T* o = dx[k]) {
            o += i * sizes[k];
            for (std::size_t j = 0; j < sizes[k]; ++j) o[j] += d[j];
          }
          d += sizes[k];
        }
      }
    });
  }
};
}  // namespace detail

struct Concat {
  static constexpr std::size_t arity = 0;  // two or more
  template <class T, class... Ins>
  using bind = detail::ConcatLayer<T, Ins...>;
};

}  // namespace zoo

// zoo/core/shape.hpp — per-sample shapes known at compile time.
//
// A Shape<...> is the shape of ONE sample: Shape<F> for dense features,
// Shape<C, H, W> for images. The batch size N is the only run-time dimension,
// so every activation is laid out as (N, F) or (N, C, H, W), row-major.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

namespace zoo {

template <std::size_t... Dims>
struct Shape {
  static_assert(sizeof...(Dims) >= 1 && sizeof...(Dims) <= 3,
                "zoo::Shape: a per-sample shape has 1 (features) or 3 (channels, height, width) "
                "dimensions; the batch dimension is never part of it");
  static_assert(((Dims > 0) && ...), "zoo::Shape: every dimension must be positive");
  static constexpr std::size_t rank = sizeof...(Dims);
  static constexpr std::array<std::size_t, rank> dims{Dims...};
  static constexpr std::size_t size = (Dims * ...);
  // Channels/height/width as the conv layers see them: a flat Shape<F> is (F, 1, 1).
  static constexpr std::size_t C = dims[0];
  static constexpr std::size_t H = rank == 3 ? dims[1] : 1;
  static constexpr std::size_t W = rank == 3 ? dims[2] : 1;

  static std::string str() {
    std::string s = "(";
    for (std::size_t i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + ")";
  }
};

template <class T>
struct is_shape : std::false_type {};
template <std::size_t... D>
struct is_shape<Shape<D...>> : std::true_type {};
template <class T>
inline constexpr bool is_shape_v = is_shape<T>::value;

template <class S>
inline constexpr bool is_flat_v = S::rank == 1;
template <class S>
inline constexpr bool is_image_v = S::rank == 3;

}  // namespace zoo

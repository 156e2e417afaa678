// zoo/layers/elementwise.hpp — Add and Mul of two inputs, with per-channel
// broadcasting (torch's `a * b` with b of shape (N, C, 1, 1) or (N, C)).
//
//   Add: y = a + b      da += dy,          db += dy            (summed over H·W if broadcast)
//   Mul: y = a · b      da += dy · b,      db += dy · a        (summed over H·W if broadcast)
//
// The diffusion UNet's FiLM-style `cemb * up + temb` is a Mul then an Add.
#pragma once
#include <array>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"

namespace zoo {

namespace detail {
// The output of a broadcasting binary op: the larger operand's shape.
template <class A, class B>
struct broadcast_shape {
  using type = std::conditional_t<(A::size >= B::size), A, B>;
  static constexpr bool a_full = A::size == type::size;
  static constexpr bool b_full = B::size == type::size;
  // A broadcast operand holds one value per channel: (C) or (C, 1, 1). A (1, H, W) map
  // with H·W == C must not pass, since torch would broadcast it over channels instead.
  static constexpr bool ok = (a_full || (A::size == type::C && A::size == A::C)) &&
                             (b_full || (B::size == type::C && B::size == B::C)) &&
                             (a_full ? A::rank == type::rank : true) &&
                             (b_full ? B::rank == type::rank : true);
};

template <class T, class A, class B, bool IsMul>
struct BinaryLayer {
  using bs = broadcast_shape<A, B>;
  static constexpr bool bind_ok = bs::ok;
  // The layer's rules on its input, checked by bind_t (core/layer.hpp) rather than in the
  // class body: a failed static_assert there makes clang drop the rest of the class, and
  // every use of it then prints an error of its own.
  static constexpr bool check() {
    static_assert(bs::ok,
                  "zoo::Add/zoo::Mul: the two inputs must have the same shape, or one must hold one "
                  "value per channel of the other ((C), (C, 1, 1)) to be broadcast over H and W");
    return bind_ok;
  }
  static constexpr std::size_t arity = 2;
  using input_shapes = type_list<A, B>;
  using output_shape = typename bs::type;
  static constexpr std::size_t S = output_shape::size;
  static constexpr std::size_t C = output_shape::C;
  static constexpr std::size_t HW = S / C;
  static constexpr double flops = S;
  static constexpr const char* name() { return IsMul ? "Mul" : "Add"; }
  static constexpr bool backward_reads_x = IsMul, backward_reads_y = false;  // Mul: the other operand

  // Index of operand value for output element (sample i, channel c, position k).
  template <bool Full>
  static ZOO_ALWAYS_INLINE std::size_t at(std::size_t i, std::size_t c, std::size_t k) {
    if constexpr (Full) return i * S + c * HW + k;
    else return i * C + c;
  }

  void forward(const std::array<const T*, 2>& x, T* y, std::size_t n) {
    const T* a = x[0];
    const T* b = x[1];
    parallel_for(n * C, HW, [&](std::size_t lo, std::size_t hi) {
      for (std::size_t ic = lo; ic < hi; ++ic) {
        const std::size_t i = ic / C, c = ic % C;
        T* yp = y + i * S + c * HW;
        for (std::size_t k = 0; k < HW; ++k) {
          const T av = a[at<bs::a_full>(i, c, k)], bv = b[at<bs::b_full>(i, c, k)];
          yp[k] = IsMul ? av * bv : av + bv;
        }
      }
    });
  }

  void backward(const std::array<const T*, 2>& x, const T*, const T* dy,
                const std::array<T*, 2>& dx, std::size_t n) {
    const T* a = x[0];
    const T* b = x[1];
    T* da = dx[0];
    T* db = dx[1];
    // Per-channel operands are summed over H·W; each (i, c) row is owned by one thread.
    parallel_for(n * C, HW, [&](std::size_t lo, std::size_t hi) {
      for (std::size_t ic = lo; ic < hi; ++ic) {
        const std::size_t i = ic / C, c = ic % C;
        const T* d = dy + i * S + c * HW;
        T sa = 0, sb = 0;
        for (std::size_t k = 0; k < HW; ++k) {
          const T ga = IsMul ? d[k] * b[at<bs::b_full>(i, c, k)] : d[k];
          const T gb = IsMul ? d[k] * a[at<bs::a_full>(i, c, k)] : d[k];
          if constexpr (bs::a_full) {
            if (da) da[at<true>(i, c, k)] += ga;
          } else sa += ga;
          if constexpr (bs::b_full) {
            if (db) db[at<true>(i, c, k)] += gb;
          } else sb += gb;
        }
        if constexpr (!bs::a_full)
          if (da) da[i * C + c] += sa;
        if constexpr (!bs::b_full)
          if (db) db[i * C + c] += sb;
      }
    });
  }
};
}  // namespace detail

struct Add {
  static constexpr std::size_t arity = 2;
  template <class T, class A, class B>
  using bind = detail::BinaryLayer<T, A, B, false>;
};
struct Mul {
  static constexpr std::size_t arity = 2;
  template <class T, class A, class B>
  using bind = detail::BinaryLayer<T, A, B, true>;
};

}  // namespace zoo

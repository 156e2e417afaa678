// MaxPool2d's two ways through a plane (layers/pool.hpp): separable (row maxima, then
// their maxima over the window's rows) and whole windows (planes too large for the row
// results on the stack), both with selects for PyTorch's rule — the first maximum in
// row-major order, the last NaN — against that rule written as PyTorch's loop, on data
// full of ties and with NaNs, for several kernels, strides and paddings.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {

// PyTorch's loop: `if (v > m || isnan(v)) m = v, best = index`.
template <class L, long K, long S, long P>
void reference(const float* x, float* y, std::int32_t* a) {
  for (std::size_t oh = 0; oh < L::OH; ++oh)
    for (std::size_t ow = 0; ow < L::OW; ++ow) {
      const long h0 = long(oh) * S - P, w0 = long(ow) * S - P;
      float m = -std::numeric_limits<float>::infinity();
      long best = std::max(h0, 0L) * long(L::W) + std::max(w0, 0L);
      for (long h = std::max(h0, 0L); h < std::min(h0 + K, long(L::H)); ++h)
        for (long w = std::max(w0, 0L); w < std::min(w0 + K, long(L::W)); ++w) {
          const float v = x[h * long(L::W) + w];
          if (v > m || std::isnan(v)) m = v, best = h * long(L::W) + w;
        }
      y[oh * L::OW + ow] = m;
      a[oh * L::OW + ow] = static_cast<std::int32_t>(best);
    }
}

template <long K, long S, long P, class Sh>
void both_paths() {
  using L = bind_t<MaxPool2d<K, S, P>, float, Sh>;
  Rng r(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> x(Sh::H * Sh::W);
    for (auto& v : x) {
      const double u = r.uniform();
      v = float(std::floor(r.uniform() * 4));              // many ties
      if (trial % 4 == 3 && u < 0.05) v = std::numeric_limits<float>::quiet_NaN();
      if (trial % 4 == 2 && u < 0.3) v = -std::numeric_limits<float>::infinity();
    }
    std::vector<float> y0(L::OH * L::OW), y1(y0.size()), y2(y0.size());
    std::vector<std::int32_t> a0(y0.size()), a1(y0.size()), a2(y0.size());
    reference<L, K, S, P>(x.data(), y0.data(), a0.data());
    L::template plane_separable<true>(x.data(), y1.data(), a1.data());
    L::template plane_windows<true>(x.data(), y2.data(), a2.data());
    for (std::size_t i = 0; i < y0.size(); ++i) {
      CAPTURE(i);
      REQUIRE(a1[i] == a0[i]);
      REQUIRE(a2[i] == a0[i]);
      REQUIRE((y1[i] == y0[i] || (std::isnan(y1[i]) && std::isnan(y0[i]))));
      REQUIRE((y2[i] == y0[i] || (std::isnan(y2[i]) && std::isnan(y0[i]))));
    }
  }
}

}  // namespace

TEST_CASE("MaxPool2d: separable and whole-window planes give PyTorch's maxima and indices") {
  both_paths<5, 1, 2, Shape<1, 4, 4>>();  // SPPF on a 4×4 map
  both_paths<5, 1, 2, Shape<1, 9, 7>>();
  both_paths<2, 2, 0, Shape<1, 6, 8>>();
  both_paths<3, 2, 1, Shape<1, 7, 6>>();
  both_paths<2, 1, 0, Shape<1, 3, 3>>();
}

TEST_CASE("MaxPool2d: the first of tied maxima wins, the last NaN wins, as PyTorch") {
  using L = bind_t<MaxPool2d<2, 2>, float, Shape<1, 2, 6>>;
  L pool;
  pool.resize(1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Windows (rows 0–1): {3, 3 | 1, 3} → the first 3 (index 0); {1, NaN | 5, NaN} → the
  // NaN at index 9; {-inf ×4} → -inf at the first index, 4.
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {3, 3, 1, nan, -inf, -inf, 1, 3, 5, nan, -inf, -inf};
  std::vector<float> y(3);
  pool.forward(x.data(), y.data(), 1);
  CHECK(y[0] == 3.0f);
  CHECK(pool.argmax[0] == 0);
  CHECK(std::isnan(y[1]));
  CHECK(pool.argmax[1] == 9);
  CHECK(y[2] == -inf);
  CHECK(pool.argmax[2] == 4);
}

// Helpers for tests that compare two computations of the same thing: deterministic
// uniform data, the largest difference relative to 1 + |reference|, and the norm of the
// difference relative to the reference's norm.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#include <zoo/core/rng.hpp>

namespace zoo_test {

// n values uniform in [-1, 1) from seed, drawn in double and converted to T.
template <class T>
std::vector<T> uniform(std::size_t n, std::uint64_t seed) {
  std::vector<double> v(n);
  zoo::Rng(seed).fill_uniform(v.data(), n, -1, 1);
  return std::vector<T>(v.begin(), v.end());
}

// max |a − b| / (1 + |b|) over equally long a and b.
template <class T>
double max_rel_diff(const std::vector<T>& a, const std::vector<T>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(double(a[i]) - double(b[i])) / (1.0 + std::abs(double(b[i]))));
  return m;
}

// ‖a − b‖ / ‖b‖ over n values (‖a − b‖ when b is all zeros): one number for a tensor.
template <class T>
double rel_err(const T* a, const T* b, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d, den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace zoo_test

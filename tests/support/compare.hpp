// Helpers for tests that compare two computations of the same thing: deterministic
// uniform data and the largest difference relative to 1 + |reference|.
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

}  // namespace zoo_test

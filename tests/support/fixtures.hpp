// tests/support/fixtures.hpp — golden tensors written by tests/fixtures/make_fixtures.py.
//
// Format (text, so diffs are readable): one tensor per record,
//   tensor <name> <rank> <d0> ... <dk>
//   <values, whitespace separated, row-major>
// Comparisons print the first differing values and the largest difference.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace zoo::test {

struct Golden {
  std::vector<std::size_t> shape;
  std::vector<double> values;
};

class Fixture {
 public:
  explicit Fixture(const std::string& name) : path_(std::string(ZOO_FIXTURE_DIR) + "/" + name) {
    std::ifstream f(path_);
    if (!f) throw std::runtime_error("fixture not found: " + path_);
    std::string word;
    while (f >> word) {
      if (word != "tensor") throw std::runtime_error(path_ + ": expected 'tensor', got " + word);
      std::string key;
      std::size_t rank = 0, count = 1;
      f >> key >> rank;
      Golden g;
      for (std::size_t i = 0; i < rank; ++i) {
        std::size_t d;
        f >> d;
        g.shape.push_back(d);
        count *= d;
      }
      g.values.resize(count);
      for (auto& v : g.values) f >> v;
      if (!f) throw std::runtime_error(path_ + ": truncated tensor " + key);
      tensors_[key] = std::move(g);
    }
  }
  const Golden& operator[](const std::string& key) const {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) throw std::runtime_error(path_ + ": no tensor named " + key);
    return it->second;
  }
  bool has(const std::string& key) const { return tensors_.count(key) != 0; }
  template <class T>
  void copy_to(const std::string& key, T* dst) const {
    for (const double v : (*this)[key].values) *dst++ = static_cast<T>(v);
  }

 private:
  std::string path_;
  std::map<std::string, Golden> tensors_;
};

// |got − want| ≤ atol + rtol·|want| everywhere; reports the worst entries.
template <class T>
void check_close(const std::string& what, const T* got, const Golden& want, double atol = 1e-5,
                 double rtol = 1e-4) {
  double worst = 0;
  std::size_t worst_i = 0, bad = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < want.values.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - want.values[i]);
    if (d > worst) worst = d, worst_i = i;
    if (!(d <= atol + rtol * std::abs(want.values[i]))) {
      if (bad < 5) first << "  [" << i << "] got " << got[i] << " want " << want.values[i] << "\n";
      ++bad;
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << want.values.size()
                               << " values differ; largest difference " << worst << " at ["
                               << worst_i << "]\n"
                               << first.str());
}

}  // namespace zoo::test

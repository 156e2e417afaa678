// csv_close A.csv B.csv TOL [COLUMNS] — exit 0 when the two CSV files have the same lines and
// fields, and every numeric field of B is within TOL (relative, against max(|a|, 1e-3))
// of A's; text fields must be equal. Otherwise prints the first difference and exits 1.
// COLUMNS (comma-separated header names) limits the comparison to those columns, e.g. to
// leave out timings; each must be in A's header.
// For tests/examples_device.cmake: a --device cuda run against its CPU twin.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {
std::vector<std::string> lines(const char* path) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "csv_close: cannot read %s\n", path);
    std::exit(1);
  }
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);) v.push_back(l);
  return v;
}
std::vector<std::string> fields(const std::string& l) {
  std::vector<std::string> v;
  std::stringstream ss(l);
  for (std::string x; std::getline(ss, x, ',');) v.push_back(x);
  return v;
}
bool number(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: csv_close A.csv B.csv TOL [COLUMNS]\n");
    return 2;
  }
  const double tol = std::atof(argv[3]);
  const auto a = lines(argv[1]), b = lines(argv[2]);
  if (a.size() != b.size()) {
    std::fprintf(stderr, "csv_close: %s has %zu lines, %s %zu\n", argv[1], a.size(), argv[2], b.size());
    return 1;
  }
  // Which fields count: all, or those named in COLUMNS.
  std::vector<bool> use;
  if (argc == 5) {
    const auto head = a.empty() ? std::vector<std::string>{} : fields(a[0]);
    use.assign(head.size(), false);
    for (const auto& c : fields(argv[4])) {
      const auto at = std::find(head.begin(), head.end(), c);
      if (at == head.end()) {
        std::fprintf(stderr, "csv_close: %s has no column '%s'\n", argv[1], c.c_str());
        return 1;
      }
      use[std::size_t(at - head.begin())] = true;
    }
  }
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto fa = fields(a[i]), fb = fields(b[i]);
    if (fa.size() != fb.size()) {
      std::fprintf(stderr, "csv_close: line %zu has %zu fields in A, %zu in B\n", i + 1, fa.size(), fb.size());
      return 1;
    }
    for (std::size_t k = 0; k < fa.size(); ++k) {
      if (!use.empty() && (k >= use.size() || !use[k])) continue;
      double x = 0, y = 0;
      if (number(fa[k], x) && number(fb[k], y)) {
        const double r = std::abs(x - y) / std::max(std::abs(x), 1e-3);
        worst = std::max(worst, r);
        if (!(r <= tol)) {
          std::fprintf(stderr, "csv_close: line %zu field %zu: %s vs %s (relative %.3g > %g)\n", i + 1, k + 1,
                       fa[k].c_str(), fb[k].c_str(), r, tol);
          return 1;
        }
      } else if (fa[k] != fb[k]) {
        std::fprintf(stderr, "csv_close: line %zu field %zu: '%s' vs '%s'\n", i + 1, k + 1, fa[k].c_str(),
                     fb[k].c_str());
        return 1;
      }
    }
  }
  std::printf("csv_close: %zu lines agree (largest relative difference %.3g)\n", a.size(), worst);
  return 0;
}

// zoo/core/profile.hpp — opt-in wall time per node of a Graph or Sequential.
//
//   #define ZOO_PROFILE            // before any zoo header, in every TU of the program
//   #include <zoo/zoo.hpp>
//   ... train ...
//   zoo::profile::report(stdout);  // one row per leaf layer: path, calls, forward and backward ms
//   zoo::profile::clear();
//
// Without ZOO_PROFILE the graphs contain no timing code at all. With it, every node's
// forward and backward is timed on the calling thread (the layers' own parallel regions
// are inside the timed span), so a row is what that node costs the step at the current
// thread count: comparing two thread counts shows which layers do not scale. The
// library's parallel regions are timed too (profile::Region), so each row also says how
// much of the node ran outside them — on the calling thread alone, the others idle.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zoo::profile {

struct Row {
  std::string path;  // node names from the outermost graph, joined by '.'
  std::string kind;  // the layer's name()
  bool leaf = true;  // false for a Graph or Sequential (its time includes its nodes')
  std::size_t order = 0;
  std::size_t fwd_calls = 0, bwd_calls = 0;
  double fwd_s = 0, bwd_s = 0;
  double fwd_serial_s = 0, bwd_serial_s = 0;  // of those, outside any parallel region
};

namespace detail {
struct State {
  // Keyed by the node object and its depth: a graph's first node lives at the graph's
  // own address.
  std::map<std::pair<const void*, std::size_t>, Row> rows;
  std::vector<std::string> stack;   // names of the nodes being run, outermost first
  double region_s = 0;              // time inside parallel regions so far
  int region_depth = 0;
};
inline State& state() {
  static State s;
  return s;
}
}  // namespace detail

// Times one node's forward (backward = false) or backward while alive.
class Scope {
 public:
  Scope(const void* node, std::string_view name, const char* kind, bool leaf, bool backward)
      : node_(node), backward_(backward), t0_(std::chrono::steady_clock::now()) {
    auto& s = detail::state();
    region0_ = s.region_s;
    s.stack.emplace_back(name);
    auto [it, fresh] = s.rows.try_emplace({node, s.stack.size()});
    if (fresh) {
      std::string path;
      for (const auto& p : s.stack) path += (path.empty() ? "" : ".") + p;
      it->second.path = std::move(path);
      it->second.kind = kind;
      it->second.leaf = leaf;
      it->second.order = s.rows.size();
    }
  }
  ~Scope() {
    const double dt =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    auto& s = detail::state();
    Row& r = s.rows[{node_, s.stack.size()}];
    const double serial = std::max(0.0, dt - (s.region_s - region0_));
    if (backward_) r.bwd_s += dt, r.bwd_serial_s += serial, ++r.bwd_calls;
    else r.fwd_s += dt, r.fwd_serial_s += serial, ++r.fwd_calls;
    s.stack.pop_back();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const void* node_;
  bool backward_;
  std::chrono::steady_clock::time_point t0_;
  double region0_ = 0;
};

// Marks one parallel region of the library, on the thread that opens it. Only the
// profiling build times it (the graphs run on one thread, so the state needs no lock).
class Region {
 public:
  Region() : t0_(std::chrono::steady_clock::now()) { ++detail::state().region_depth; }
  ~Region() {
    auto& s = detail::state();
    if (--s.region_depth == 0)
      s.region_s +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  std::chrono::steady_clock::time_point t0_;
};

inline void clear() { detail::state().rows.clear(); }

// The rows in the order the nodes first ran.
inline std::vector<Row> rows(bool leaves_only = true) {
  std::vector<Row> out;
  for (const auto& [k, r] : detail::state().rows)
    if (r.leaf || !leaves_only) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a.order < b.order; });
  return out;
}

// Leaf rows with milliseconds per call and, of those, the milliseconds outside the
// parallel regions ("1t": one thread working), and their sums.
inline void report(std::FILE* f, bool leaves_only = true) {
  double tf = 0, tb = 0, sf = 0, sb = 0;
  std::fprintf(f, "%-28s %-14s %10s %10s %10s %10s\n", "node", "layer", "fwd ms", "bwd ms",
               "fwd 1t ms", "bwd 1t ms");
  const auto per = [](double s, std::size_t calls) { return calls ? 1e3 * s / double(calls) : 0; };
  for (const auto& r : rows(leaves_only)) {
    const double fm = per(r.fwd_s, r.fwd_calls), bm = per(r.bwd_s, r.bwd_calls);
    const double fs = per(r.fwd_serial_s, r.fwd_calls), bs = per(r.bwd_serial_s, r.bwd_calls);
    if (r.leaf) tf += fm, tb += bm, sf += fs, sb += bs;
    std::fprintf(f, "%-28s %-14s %10.3f %10.3f %10.3f %10.3f\n", r.path.c_str(),
                 r.kind.c_str(), fm, bm, fs, bs);
  }
  std::fprintf(f, "%-28s %-14s %10.3f %10.3f %10.3f %10.3f\n", "(leaves)", "", tf, tb, sf, sb);
}

}  // namespace zoo::profile

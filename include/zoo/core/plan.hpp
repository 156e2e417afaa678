// zoo/core/plan.hpp — a static memory plan: where each value of a network lives in one arena.
//
// A container (Sequential, Graph) knows at compile time every value it makes, how big it is
// per sample, which node makes it and which nodes read it. In inference a value is needed
// from the node that writes it to the last node that reads it; values whose lifetimes are
// disjoint may share memory. The plan assigns each value an offset (per sample: everything
// scales with the batch N, so offset·N is the place in an arena of peak·N values).
//
// The placement is greedy by size (the "greedy by size" of TFLite's arena planner): values
// in decreasing size, each at the lowest offset where it overlaps no already placed value
// whose lifetime meets its own. Lifetimes are closed intervals of node positions, so a value
// written by node j never shares memory with what node j reads — unless node j computes in
// place (an element-wise layer whose input dies there): its output is then the same value as
// its input, merged before placement.
//
// A node that is itself a container needs working memory while it runs (its own values):
// that is one more value of the outer plan, alive at the node's position only, so nested
// containers plan into the same arena and the model allocates it once.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>

namespace zoo::plan {

// Per-sample sizes are rounded to 16 values, so every offset·N is a multiple of 64 bytes
// for float (and of 128 for double): the arena keeps Buffer's 64-byte alignment.
inline constexpr std::size_t kAlign = 16;
constexpr std::size_t round_up(std::size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// One value: per-sample size and the node positions where it is first written and last read.
struct Interval {
  std::size_t size = 0, first = 0, last = 0;
};

template <std::size_t V>
struct Placement {
  std::array<std::size_t, V> offset{};
  std::size_t peak = 0;  // per sample: the arena holds peak·N values
};

constexpr bool meet(const Interval& a, const Interval& b) {
  return a.first <= b.last && b.first <= a.last;
}

// Greedy by size; values of size 0 are placed nowhere (offset 0, never read).
template <std::size_t V>
constexpr Placement<V> greedy(const std::array<Interval, V>& v) {
  Placement<V> p{};
  std::array<std::size_t, V> order{};
  for (std::size_t i = 0; i < V; ++i) order[i] = i;
  // Insertion sort: size descending, then first use ascending, then index (deterministic).
  for (std::size_t i = 1; i < V; ++i) {
    const std::size_t k = order[i];
    std::size_t j = i;
    auto before = [&](std::size_t a, std::size_t b) {
      if (v[a].size != v[b].size) return v[a].size > v[b].size;
      if (v[a].first != v[b].first) return v[a].first < v[b].first;
      return a < b;
    };
    while (j > 0 && before(k, order[j - 1])) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = k;
  }
  std::array<bool, V> placed{};
  for (std::size_t oi = 0; oi < V; ++oi) {
    const std::size_t a = order[oi];
    if (v[a].size == 0) continue;
    auto fits = [&](std::size_t off) {
      for (std::size_t b = 0; b < V; ++b)
        if (placed[b] && v[b].size > 0 && meet(v[a], v[b]) && off < p.offset[b] + v[b].size &&
            p.offset[b] < off + v[a].size)
          return false;
      return true;
    };
    std::size_t best = fits(0) ? 0 : static_cast<std::size_t>(-1);
    for (std::size_t b = 0; b < V; ++b) {
      if (!placed[b] || v[b].size == 0 || !meet(v[a], v[b])) continue;
      const std::size_t cand = p.offset[b] + v[b].size;
      if (cand < best && fits(cand)) best = cand;
    }
    p.offset[a] = best;
    placed[a] = true;
    if (best + v[a].size > p.peak) p.peak = best + v[a].size;
  }
  return p;
}

// Whether no two values that are alive at the same time share memory (the test's check of
// greedy(), and a compile-time check of every container's plan).
template <std::size_t V>
constexpr bool disjoint(const std::array<Interval, V>& v, const Placement<V>& p) {
  for (std::size_t a = 0; a < V; ++a)
    for (std::size_t b = a + 1; b < V; ++b)
      if (v[a].size > 0 && v[b].size > 0 && meet(v[a], v[b]) &&
          p.offset[a] < p.offset[b] + v[b].size && p.offset[b] < p.offset[a] + v[a].size)
        return false;
  for (std::size_t a = 0; a < V; ++a)
    if (v[a].size > 0 && p.offset[a] + v[a].size > p.peak) return false;
  return true;
}

// A container's nodes, as the planner sees them. Node j writes value j (out[j] values per
// sample; 0 when it writes the caller's buffer or a fused neighbour writes for it) at position
// made[j] (j, or j − 1 when node j − 1 computes it), is last read at last[j], and needs ws[j]
// values of working memory while it runs. inplace_of[j] = i < j: node j writes over value i
// (its one input, which dies at j); = j otherwise.
template <std::size_t J>
struct Nodes {
  std::array<std::size_t, J> out{}, ws{}, made{}, last{}, inplace_of{};
};

// Where value j and node j's working memory live (per-sample offsets), and the peak.
template <std::size_t J>
struct NodePlan {
  std::array<std::size_t, J> out{}, ws{};
  std::array<std::size_t, J> root{};  // the value whose memory value j uses (itself, or in place)
  std::array<Interval, 2 * J> intervals{};
  Placement<2 * J> placement{};
  std::size_t peak = 0;
};

template <std::size_t J>
constexpr NodePlan<J> plan_nodes(const Nodes<J>& nd) {
  NodePlan<J> r{};
  // In-place chains: value j is value root[j]; the root lives until the chain's last read.
  for (std::size_t j = 0; j < J; ++j) r.root[j] = nd.inplace_of[j] == j ? j : r.root[nd.inplace_of[j]];
  for (std::size_t j = 0; j < J; ++j) {
    Interval& iv = r.intervals[r.root[j]];
    if (r.root[j] == j) {
      iv = {nd.out[j], nd.made[j], nd.last[j]};
    } else {
      if (nd.out[j] > iv.size) iv.size = nd.out[j];
      if (nd.last[j] > iv.last) iv.last = nd.last[j];
    }
    r.intervals[J + j] = {nd.ws[j], j, j};
  }
  r.placement = greedy(r.intervals);
  for (std::size_t j = 0; j < J; ++j) {
    r.out[j] = r.placement.offset[r.root[j]];
    r.ws[j] = r.placement.offset[J + j];
  }
  r.peak = r.placement.peak;
  return r;
}

// A container's training plan: the forward's (values no backward reads, and working memory
// of nested containers) and the backward's (gradients, working memory), which never run at
// once, so one working memory of the larger peak serves both.
template <std::size_t J>
struct TrainPlan {
  NodePlan<J> fwd{}, bwd{};
  std::size_t peak = 0;
};
template <std::size_t J>
constexpr TrainPlan<J> train_plan(const Nodes<J>& fwd, const Nodes<J>& bwd) {
  TrainPlan<J> t{plan_nodes(fwd), plan_nodes(bwd), 0};
  t.peak = t.fwd.peak > t.bwd.peak ? t.fwd.peak : t.bwd.peak;
  return t;
}

// A debug check of the plan (-DZOO_PLAN_CHECK): the arena starts as NaN, and every value
// is overwritten with NaN right after its last reader has run, as is a nested container's
// working memory after it returns. A plan that let two live values share memory would make
// a later reader see NaN, and the output would differ from the unplanned forward's.
#ifdef ZOO_PLAN_CHECK
inline constexpr bool kPoison = true;
#else
inline constexpr bool kPoison = false;
#endif
// Switched at run time too, so a test can compare a poisoned run with a plain one.
inline bool& poison_enabled() {
  static bool on = true;
  return on;
}
template <class T>
void poison(T* p, std::size_t count) {
  if (poison_enabled()) std::fill(p, p + count, std::numeric_limits<T>::quiet_NaN());
}

}  // namespace zoo::plan

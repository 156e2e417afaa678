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

// Greedy by size; values of size 0 are placed nowhere (offset 0, never read). Only the m
// values of nonzero size take part: a sort of m and m²/2 interval tests, so a chain of 600
// layers plans within the compilers' constexpr step limits.
template <std::size_t V>
constexpr Placement<V> greedy(const std::array<Interval, V>& v) {
  Placement<V> p{};
  std::array<std::size_t, V> order{};
  std::size_t m = 0;
  for (std::size_t i = 0; i < V; ++i)
    if (v[i].size > 0) order[m++] = i;
  // Size descending, then first use ascending, then index: a deterministic order. Insertion
  // sort (std::sort is not constexpr under every compiler zoo supports); a chain's values come
  // nearly in this order already.
  auto before = [&](std::size_t a, std::size_t b) {
    if (v[a].size != v[b].size) return v[a].size > v[b].size;
    if (v[a].first != v[b].first) return v[a].first < v[b].first;
    return a < b;
  };
  for (std::size_t i = 1; i < m; ++i) {
    const std::size_t k = order[i];
    std::size_t j = i;
    for (; j > 0 && before(k, order[j - 1]); --j) order[j] = order[j - 1];
    order[j] = k;
  }
  // In placement order: each value's interval and, once placed, its memory [lo, hi). Placed
  // values are listed by the position where they start (head, next), and a value can meet only
  // those that start at most `span` (the longest interval) before it: a chain of layers, whose
  // values live a position or two, plans in time linear in its length.
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::array<std::size_t, V> first{}, last{}, lo{}, hi{}, mlo{}, mhi{}, next{}, head{};
  std::size_t span = 0, positions = 0;
  for (std::size_t oi = 0; oi < m; ++oi) {
    first[oi] = v[order[oi]].first, last[oi] = v[order[oi]].last;
    if (last[oi] - first[oi] > span) span = last[oi] - first[oi];
    if (last[oi] >= positions) positions = last[oi] + 1;
  }
  // A container's positions are its nodes, fewer than V; other callers may use more, and
  // then every placed value is a candidate (one list, position 0).
  const bool by_position = positions <= V;
  if (!by_position) span = positions;
  for (std::size_t t = 0; t < V; ++t) head[t] = none;
  for (std::size_t oi = 0; oi < m; ++oi) {
    const std::size_t fa = first[oi], la = last[oi], size = v[order[oi]].size;
    const std::size_t t0 = !by_position || fa < span ? 0 : fa - span;
    const std::size_t t1 = by_position ? la : 0;
    std::size_t k = 0;  // the placed values that meet it, sorted by offset into mlo, mhi
    for (std::size_t t = t0; t <= t1; ++t)
      for (std::size_t pj = head[t]; pj != none; pj = next[pj]) {
        if (last[pj] < fa || first[pj] > la) continue;
        std::size_t j = k++;
        for (; j > 0 && mlo[j - 1] > lo[pj]; --j) mlo[j] = mlo[j - 1], mhi[j] = mhi[j - 1];
        mlo[j] = lo[pj], mhi[j] = hi[pj];
      }
    // The lowest gap that holds it: below the first of them, or after one of them.
    std::size_t at = 0;
    for (std::size_t j = 0; j < k && mlo[j] < at + size; ++j)
      if (mhi[j] > at) at = mhi[j];
    lo[oi] = at, hi[oi] = at + size;
    p.offset[order[oi]] = at;
    if (at + size > p.peak) p.peak = at + size;
    const std::size_t bucket = by_position ? fa : 0;
    next[oi] = head[bucket], head[bucket] = oi;
  }
  return p;
}

// Whether no two values that are alive at the same time share memory (the test's check of
// greedy(), and a compile-time check of every container's plan).
template <std::size_t V>
constexpr bool disjoint(const std::array<Interval, V>& v, const Placement<V>& p) {
  std::array<std::size_t, V> nz{};
  std::size_t m = 0;
  for (std::size_t i = 0; i < V; ++i)
    if (v[i].size > 0) nz[m++] = i;
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t a = nz[i];
    if (p.offset[a] + v[a].size > p.peak) return false;
    for (std::size_t j = i + 1; j < m; ++j) {
      const std::size_t b = nz[j];
      if (meet(v[a], v[b]) && p.offset[a] < p.offset[b] + v[b].size &&
          p.offset[b] < p.offset[a] + v[a].size)
        return false;
    }
  }
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

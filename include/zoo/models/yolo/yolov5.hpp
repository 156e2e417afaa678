// zoo/models/yolo/yolov5.hpp — YOLOv5 networks written as their yaml: one Row per line of
// models/yolov5n.yaml (v7.0), `from` as the yaml's column, widths and depths as written
// there and scaled at compile time.
//
//   Row<From<-1>,    3, C3<128>>        # yaml: [-1, 3, C3, [128]]
//   Row<From<-1, 6>, 1, Concat>         # yaml: [[-1, 6], 1, Concat, [1]]
//   Row<From<17, 20, 23>, 1, Detect<NC>>
//
// Yolo<Depth, Width, Rows...> is a Graph whose node i is "model.i" (so parameters are named
// model.0.conv.weight, … as YOLOv5's state_dict), reading the rows its From names (−k is
// k rows back, k ≥ 0 is row k; row 0's −1 is the image). parse_model's scaling:
// channels c → make_divisible(c·Width, 8) for Conv, C3, SPPF and AKConv rows;
// repeats n → max(round(n·Depth), 1), C3's Bottlenecks or n copies of any other module.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <ratio>
#include <string>
#include <type_traits>
#include <utility>

#include "../../core/fixed_string.hpp"
#include "modules.hpp"

namespace zoo::yolo {

template <int... F>
struct From {
  static_assert(sizeof...(F) >= 1, "zoo::yolo::From<...>: a row reads at least one earlier row");
};
template <class FromT, std::size_t Number, class Module>
struct Row {
  static_assert(Number >= 1, "zoo::yolo::Row: the number column must be at least 1");
};

namespace detail {
// math.ceil(x / 8) * 8 of parse_model, on the exact ratio c·W.
template <std::size_t C, class W>
inline constexpr std::size_t make_divisible = (C * W::num + 8 * W::den - 1) / (8 * W::den) * 8;
// max(round(n·D), 1), Python's round (half to even) on the exact ratio n·D.
template <std::size_t N, class D>
inline constexpr std::size_t scaled_depth = [] {
  const std::size_t num = N * D::num, den = D::den;
  std::size_t q = num / den;
  const std::size_t r2 = 2 * (num % den);
  if (r2 > den || (r2 == den && q % 2 == 1)) ++q;
  return q > 0 ? q : std::size_t{1};
}();

// How a yaml module scales: `type` is the module a row of `Number` copies becomes.
template <class M, std::size_t Number, class D, class W>
struct scale_row {
  using type = std::conditional_t<Number == 1, M, Repeat<scaled_depth<Number, D>, M>>;
};
template <std::size_t C, std::size_t K, std::size_t S, std::size_t P, std::size_t Number, class D,
          class W>
struct scale_row<Conv<C, K, S, P>, Number, D, W> {
  using one = Conv<make_divisible<C, W>, K, S, P>;
  using type = std::conditional_t<Number == 1, one, Repeat<scaled_depth<Number, D>, one>>;
};
template <std::size_t C, std::size_t N, bool Sc, class E, std::size_t Number, class D, class W>
struct scale_row<C3<C, N, Sc, E>, Number, D, W> {
  using type = C3<make_divisible<C, W>, scaled_depth<Number * N, D>, Sc, E>;
};
template <std::size_t C, std::size_t K, std::size_t Number, class D, class W>
struct scale_row<SPPF<C, K>, Number, D, W> {
  using one = SPPF<make_divisible<C, W>, K>;
  using type = std::conditional_t<Number == 1, one, Repeat<scaled_depth<Number, D>, one>>;
};
template <std::size_t C, std::size_t N, std::size_t S, AKConvSampling M, std::size_t Number,
          class D, class W>
struct scale_row<YoloAKConv<C, N, S, M>, Number, D, W> {
  using one = YoloAKConv<make_divisible<C, W>, N, S, M>;
  using type = std::conditional_t<Number == 1, one, Repeat<scaled_depth<Number, D>, one>>;
};

constexpr std::size_t digits(std::size_t i) { return i < 10 ? 1 : 1 + digits(i / 10); }
// "model.<i>", the name YOLOv5's Model gives row i (self.model = nn.Sequential(...)).
template <std::size_t I>
inline constexpr auto row_name = [] {
  char s[6 + digits(I) + 1] = {'m', 'o', 'd', 'e', 'l', '.'};
  std::size_t v = I;
  for (std::size_t k = 6 + digits(I); k-- > 6; v /= 10) s[k] = char('0' + v % 10);
  return fixed_string<6 + digits(I) + 1>(s);
}();
inline constexpr fixed_string image_name = "images";

// The name of row R's value (R = −1: the image), in the graph that holds that row.
template <long R>
inline constexpr auto inner_name = [] {
  if constexpr (R < 0) return image_name;
  else return row_name<std::size_t(R)>;
}();
// The node a row reads for one entry f of its From: −k → row I − k, k ≥ 0 → row k.
template <std::size_t I, int F>
inline constexpr auto source_name = [] {
  constexpr long r = F < 0 ? long(I) + F : long(F);
  static_assert(F < 0 ? r >= -1 : r < long(I),
                "zoo::yolo::Row: a From entry names a row at or after the row that reads it (or "
                "before the image); rows read earlier rows only");
  return inner_name<r>;
}();

template <std::size_t I, class R, class D, class W>
struct row_node;
template <std::size_t I, int... F, std::size_t Number, class M, class D, class W>
struct row_node<I, Row<From<F...>, Number, M>, D, W> {
  using type = Node<row_name<I>, typename scale_row<M, Number, D, W>::type,
                    zoo::from<source_name<I, F>...>>;
};

// Rows as nested graphs. nvcc's cudafe++ takes time exponential in the node count of one
// Graph (docs/compile_times.md), so the rows are grouped into chunks of consecutive rows, each
// a Graph node named "_model.<its last row>": a "_…" node lends its children's names to its
// parent, so parameters keep their names (model.4.cv1.conv.weight) and their order. A chunk
// ends at a row that a later row other than the next one reads (only its last row's value
// leaves it), at the last row, or after kChunkRows rows.
inline constexpr std::size_t kChunkRows = 6;

// Row I's From entries as row indices (−1: the image).
template <std::size_t I, class R>
struct row_sources;
template <std::size_t I, int... F, std::size_t Number, class M>
struct row_sources<I, Row<From<F...>, Number, M>> {
  static constexpr std::array<long, sizeof...(F)> value{(F < 0 ? long(I) + F : long(F))...};
};

template <std::size_t R>
struct chunk_layout {
  std::size_t count = 0;
  std::array<std::size_t, R> first{}, last{};  // chunk c is rows first[c] … last[c]
  std::array<std::size_t, R> chunk_of{};       // per row
};
template <class... Rows, std::size_t... I>
constexpr chunk_layout<sizeof...(Rows)> make_layout(std::index_sequence<I...>) {
  constexpr std::size_t R = sizeof...(Rows);
  std::array<bool, R> ends{};
  const auto far_reads = [&](std::size_t i, const auto& sources) {
    for (long r : sources)
      if (r >= 0 && long(i) >= r + 2) ends[std::size_t(r)] = true;
  };
  (far_reads(I, row_sources<I, Rows>::value), ...);
  ends[R - 1] = true;
  // The rows up to the first far-read one (the stem, at the highest resolution; at most
  // kChunkRows − 1) stay one per chunk: a chunk's output cannot reuse the working memory it
  // was made in, which at the stem would raise the inference arena's peak.
  for (std::size_t r = 0; r < R && r + 1 < kChunkRows && !ends[r]; ++r) ends[r] = true;
  chunk_layout<R> l{};
  std::size_t start = 0;
  for (std::size_t r = 0; r < R; ++r) {
    if (r + 1 - start == kChunkRows) ends[r] = true;
    l.chunk_of[r] = l.count;
    if (ends[r]) {
      l.first[l.count] = start, l.last[l.count] = r, ++l.count;
      start = r + 1;
    }
  }
  return l;
}

// "_model.<i>": the node of a chunk of several rows, named after its last row.
template <std::size_t I>
inline constexpr auto chunk_name = [] {
  char s[7 + digits(I) + 1] = {'_', 'm', 'o', 'd', 'e', 'l', '.'};
  std::size_t v = I;
  for (std::size_t k = 7 + digits(I); k-- > 7; v /= 10) s[k] = char('0' + v % 10);
  return fixed_string<7 + digits(I) + 1>(s);
}();

template <class D, class W, class Is, class... Rows>
struct yolo_graph;
template <class D, class W, std::size_t... I, class... Rows>
struct yolo_graph<D, W, std::index_sequence<I...>, Rows...> {
  static constexpr std::size_t R = sizeof...(Rows);
  static constexpr auto layout = make_layout<Rows...>(std::index_sequence<I...>{});
  static constexpr std::array<std::size_t, R + 1> source_at = [] {
    std::array<std::size_t, R + 1> a{};
    std::size_t n = 0, i = 0;
    ((a[i++] = n, n += row_sources<I, Rows>::value.size()), ...);
    a[R] = n;
    return a;
  }();
  static constexpr auto all_sources = [] {
    std::array<long, source_at[R]> a{};
    std::size_t n = 0;
    ((std::copy_n(row_sources<I, Rows>::value.begin(), row_sources<I, Rows>::value.size(),
                  a.begin() + n),
      n += row_sources<I, Rows>::value.size()),
     ...);
    return a;
  }();
  template <std::size_t C>
  static constexpr auto outside = [] {
    std::array<long, source_at[R]> s{};
    std::size_t n = 0;
    for (std::size_t k = source_at[layout.first[C]]; k < source_at[layout.last[C] + 1]; ++k) {
      const long r = all_sources[k];
      if (r >= long(layout.first[C])) continue;
      bool seen = false;
      for (std::size_t j = 0; j < n; ++j) seen = seen || s[j] == r;
      if (!seen) s[n++] = r;
    }
    return std::pair{s, n};
  }();
  // The name row r's value has in the top graph: its chunk's, or its own in a one-row chunk.
  template <long Rr>
  static constexpr auto top_name = [] {
    if constexpr (Rr < 0) return image_name;
    else if constexpr (layout.first[layout.chunk_of[std::size_t(Rr)]] == std::size_t(Rr))
      return row_name<std::size_t(Rr)>;
    else return chunk_name<std::size_t(Rr)>;
  }();

  template <std::size_t C, class Srcs = std::make_index_sequence<outside<C>.second>,
            class Members = std::make_index_sequence<layout.last[C] - layout.first[C] + 1>>
  struct chunk;
  template <std::size_t C, std::size_t... S, std::size_t... M>
  struct chunk<C, std::index_sequence<S...>, std::index_sequence<M...>> {
    static constexpr std::size_t a = layout.first[C], b = layout.last[C];
    template <std::size_t Row>
    using row_t = typename row_node<Row, type_at_t<Row, type_list<Rows...>>, D, W>::type;
    using from_top = zoo::from<top_name<outside<C>.first[S]>...>;
    // A one-row chunk reads as its row does, repeated entries included (From<-1, 11> at row 12).
    using sources_b = row_sources<b, type_at_t<b, type_list<Rows...>>>;
    template <class Ks>
    struct own;
    template <std::size_t... k>
    struct own<std::index_sequence<k...>> {
      using type = zoo::from<top_name<sources_b::value[k]>...>;
    };
    using from_own = typename own<std::make_index_sequence<sources_b::value.size()>>::type;
    using type = std::conditional_t<
        a == b,
        Node<row_name<b>, typename row_t<b>::spec, from_own>,
        Node<chunk_name<b>, Graph<Inputs<inner_name<outside<C>.first[S]>...>, row_t<a + M>...>,
             from_top>>;
  };
  template <class Cs>
  struct top;
  template <std::size_t... C>
  struct top<std::index_sequence<C...>> {
    using type = Graph<Inputs<image_name>, typename chunk<C>::type...>;
  };
  using type = typename top<std::make_index_sequence<layout.count>>::type;
};
}  // namespace detail

// A YOLOv5 network: depth and width multiples as exact ratios, then the yaml's rows,
// backbone and head. Its last row is the output (Detect).
template <class Depth, class Width, class... Rows>
struct Yolo {
  static constexpr std::size_t num_rows = sizeof...(Rows);
  static constexpr bool backend_aware = true;  // a Graph: bound for the model's backend
  using graph =
      typename detail::yolo_graph<Depth, Width, std::index_sequence_for<Rows...>, Rows...>::type;
  template <class T, class In>
  using bind = typename graph::template bind<T, In>;
};

// models/yolov5n.yaml (v7.0). Backbone rows 0–9, head rows 10–24; `Down<C>` is the
// stride-2 3×3 Conv of rows 1, 3, 5, 7, 18 and 21 — the rows the AKConv variant replaces.
template <std::size_t NC, template <std::size_t> class Down, class AnchorsT = AnchorsP5>
using yolov5_rows = type_list<                      //
    Row<From<-1>, 1, Conv<64, 6, 2, 2>>,            // 0-P1/2
    Row<From<-1>, 1, Down<128>>,                    // 1-P2/4
    Row<From<-1>, 3, C3<128>>,                      //
    Row<From<-1>, 1, Down<256>>,                    // 3-P3/8
    Row<From<-1>, 6, C3<256>>,                      //
    Row<From<-1>, 1, Down<512>>,                    // 5-P4/16
    Row<From<-1>, 9, C3<512>>,                      //
    Row<From<-1>, 1, Down<1024>>,                   // 7-P5/32
    Row<From<-1>, 3, C3<1024>>,                     //
    Row<From<-1>, 1, SPPF<1024, 5>>,                // 9
    Row<From<-1>, 1, Conv<512, 1, 1>>,              // head
    Row<From<-1>, 1, Upsample<2>>,                  //
    Row<From<-1, 6>, 1, Concat>,                    // cat backbone P4
    Row<From<-1>, 3, C3<512, 1, false>>,            // 13
    Row<From<-1>, 1, Conv<256, 1, 1>>,              //
    Row<From<-1>, 1, Upsample<2>>,                  //
    Row<From<-1, 4>, 1, Concat>,                    // cat backbone P3
    Row<From<-1>, 3, C3<256, 1, false>>,            // 17 (P3/8-small)
    Row<From<-1>, 1, Down<256>>,                    //
    Row<From<-1, 14>, 1, Concat>,                   // cat head P4
    Row<From<-1>, 3, C3<512, 1, false>>,            // 20 (P4/16-medium)
    Row<From<-1>, 1, Down<512>>,                    //
    Row<From<-1, 10>, 1, Concat>,                   // cat head P5
    Row<From<-1>, 3, C3<1024, 1, false>>,           // 23 (P5/32-large)
    Row<From<17, 20, 23>, 1, Detect<NC, AnchorsT>>  // Detect(P3, P4, P5)
    >;

template <std::size_t C>
using ConvDown = Conv<C, 3, 2>;
template <std::size_t N, AKConvSampling M = AKConvSampling::clamp_to_edge>
struct AKConvDown {
  template <std::size_t C>
  using type = YoloAKConv<C, N, 2, M>;
};

namespace detail {
template <class D, class W, class Rows>
struct yolo_from_list;
template <class D, class W, class... Rows>
struct yolo_from_list<D, W, type_list<Rows...>> {
  using type = Yolo<D, W, Rows...>;
};
}  // namespace detail

using Depth_n = std::ratio<33, 100>;
using Width_n = std::ratio<1, 4>;

// yolov5n: depth 0.33, width 0.25.
template <std::size_t NC = 80>
using YOLOv5n = typename detail::yolo_from_list<Depth_n, Width_n, yolov5_rows<NC, ConvDown>>::type;
// yolov5n with every stride-2 3×3 Conv (rows 1, 3, 5, 7, 18, 21) an AKConv of N points, as
// the AKConv paper's yaml; row 0 (6×6, stride 2) stays a Conv.
template <std::size_t NC = 80, std::size_t N = 5,
          AKConvSampling M = AKConvSampling::clamp_to_edge>
using YOLOv5nAKConv =
    typename detail::yolo_from_list<Depth_n, Width_n,
                                    yolov5_rows<NC, AKConvDown<N, M>::template type>>::type;

namespace detail {
template <class L>
constexpr const char* row_type_name() {
  if constexpr (requires { L::name(); }) return L::name();
  else return "?";
}
}  // namespace detail

// Row I of a bound network, wherever its chunk put it, and its type.
template <std::size_t I, class Net>
auto& row(Net& net) {
  return net.template get<detail::row_name<I>>();
}
template <class Net, std::size_t I>
using row_t = std::remove_cvref_t<decltype(row<I>(std::declval<Net&>()))>;
// The number of rows of a bound network.
template <class Net, std::size_t I = 0>
constexpr std::size_t num_rows_of() {
  if constexpr (Net::template holds<detail::row_name<I>>()) return num_rows_of<Net, I + 1>();
  else return I;
}

// The bound network's Detect layer (its last row) and its facts.
template <class Net>
using detect_of = row_t<Net, num_rows_of<Net>() - 1>;
template <class Net>
auto& detect_layer(Net& net) {
  return row<num_rows_of<Net>() - 1>(net);
}

// A YOLOv5-style summary: one line per row (from, n, params, module), then the totals and
// GFLOPs at the bound image size (2 FLOPs per multiply-add, as YOLOv5 reports thop's MACs·2).
template <class Net>
std::string summary_table(const char* title) {
  constexpr std::size_t rows = num_rows_of<Net>();
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%4s %10s %-28s %s\n", "", "params", "module", "output");
  out += line;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((std::snprintf(line, sizeof line, "%4zu %10zu %-28s %s\n", I, num_params_of<row_t<Net, I>>(),
                    detail::row_type_name<row_t<Net, I>>(),
                    row_t<Net, I>::output_shape::str().c_str()),
      out += line),
     ...);
  }(std::make_index_sequence<rows>{});
  std::snprintf(line, sizeof line, "%s summary: %zu layers, %zu parameters, %.1f GFLOPs at %zux%zu\n",
                title, rows, std::size_t(Net::num_params), Net::flops / 1e9,
                Net::input_shape::H, Net::input_shape::W);
  out += line;
  return out;
}

}  // namespace zoo::yolo

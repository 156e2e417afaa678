// zoo/graph/graph.hpp — a DAG of named nodes, as the `from:` column of a YOLOv5 yaml.
//
//   using Net = Graph<Inputs<"x", "t">,                      // optional; default one input "input"
//                     Node<"a",   Linear<64>>,                // reads the previous node (or the first input)
//                     Node<"b",   Linear<64>, from<"t">>,
//                     Node<"sum", Add,        from<"a", "b">>,
//                     Outputs<"sum", "a">>;                    // optional; default the last node
//
// Each node's spec is bound to the shapes of the nodes it reads, at compile
// time; a misspelt or forward reference is a static_assert. Forward runs the
// nodes in order. Backward runs them in reverse; every node's backward ADDS into
// the gradients of what it read, so a node read by several others receives the
// sum of their gradients with no bookkeeping. Parameters are named "<node>.<param>".
#pragma once
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/fixed_string.hpp"
#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/plan.hpp"
#include "../core/tensor.hpp"
#ifdef ZOO_PROFILE
#include "../core/profile.hpp"
#endif

namespace zoo {

namespace detail {
struct from_tag {};
struct inputs_tag {};
struct outputs_tag {};
struct node_tag {};
// The names of from<>, Inputs<> and Outputs<>, readable without deducing them: nvcc 13's
// front end never matches a partial specialization on class-type template arguments
// (`template <fixed_string... N> struct f<Inputs<N...>>` is never chosen), so the graph
// reads names through these members instead.
template <class Tag, fixed_string... Names>
struct name_list {
  using graph_item = Tag;
  static constexpr std::size_t size = sizeof...(Names);
  static constexpr std::array<std::string_view, sizeof...(Names)> names{Names.view()...};
  // Name k as a fixed_string value, for error messages that show it.
  template <std::size_t k>
  static constexpr auto at = std::get<k>(std::tuple<decltype(Names)...>{Names...});
};
}  // namespace detail

template <fixed_string... Names>
struct from : detail::name_list<detail::from_tag, Names...> {};
template <fixed_string... Names>
struct Inputs : detail::name_list<detail::inputs_tag, Names...> {};
template <fixed_string... Names>
struct Outputs : detail::name_list<detail::outputs_tag, Names...> {};

template <fixed_string Name, class Spec, class From = from<>>
struct Node {
  using graph_item = detail::node_tag;
  static constexpr auto name = Name;
  using spec = Spec;
  using from_list = From;
  static_assert(std::is_same_v<typename From::graph_item, detail::from_tag>,
                "zoo::Node<\"name\", Spec, From>: the third argument must be zoo::from<\"a\", ...>");
};

namespace detail {

template <class I, class Tag>
inline constexpr bool is_item = requires { typename I::graph_item; } &&
                                std::is_same_v<typename I::graph_item, Tag>;
template <class I>
struct is_inputs : std::bool_constant<is_item<I, inputs_tag>> {};
template <class I>
struct is_outputs : std::bool_constant<is_item<I, outputs_tag>> {};
template <class I>
struct is_node : std::bool_constant<is_item<I, node_tag>> {};

// Splits Graph<Items...> into inputs, nodes and outputs.
template <class In, class Nodes, class Out, class... Items>
struct graph_parse {
  using inputs = In;
  using nodes = Nodes;
  using outputs = Out;
};
template <class In, class... Ns, class Out, class I, class... Rest>
struct graph_parse<In, type_list<Ns...>, Out, I, Rest...> {
  static_assert(is_inputs<I>::value || is_node<I>::value || is_outputs<I>::value,
                "zoo::Graph: every argument must be zoo::Inputs<...>, zoo::Node<\"name\", Spec, "
                "from<...>> or zoo::Outputs<...>");
  using next = std::conditional_t<
      is_inputs<I>::value, graph_parse<I, type_list<Ns...>, Out, Rest...>,
      std::conditional_t<is_outputs<I>::value, graph_parse<In, type_list<Ns...>, I, Rest...>,
                         graph_parse<In, type_list<Ns..., I>, Out, Rest...>>>;
  using inputs = typename next::inputs;
  using nodes = typename next::nodes;
  using outputs = typename next::outputs;
};

template <class InputsT, class Nodes>
struct graph_names;
template <class InputsT, class... Ns>
struct graph_names<InputsT, type_list<Ns...>> {
  static constexpr std::size_t K = InputsT::size;
  static constexpr std::size_t J = sizeof...(Ns);
  static constexpr std::array<std::string_view, K + J> names = [] {
    std::array<std::string_view, K + J> a{};
    for (std::size_t k = 0; k < K; ++k) a[k] = InputsT::names[k];
    std::size_t j = K;
    ((a[j++] = Ns::name.view()), ...);
    return a;
  }();
  static constexpr std::ptrdiff_t find(std::string_view s) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == s) return static_cast<std::ptrdiff_t>(i);
    return -1;
  }
  static constexpr bool unique() {
    for (std::size_t i = 0; i < names.size(); ++i)
      for (std::size_t k = i + 1; k < names.size(); ++k)
        if (names[i] == names[k]) return false;
    return true;
  }
};

// Each holds exactly when its last argument is true; the other arguments are there to be
// printed: every compiler shows a failed static_assert's requirement with its template
// arguments on (or right by) the error line, so the error names the node and the bad name.
// A name spelled out as characters: every compiler prints name<'o', 'u', 't'> legibly,
// where a fixed_string argument comes out as {{111, 117, 116, 0}} from clang.
template <char... C>
struct name {};
template <fixed_string S, std::size_t... I>
auto spell_out(std::index_sequence<I...>) -> name<S.value[I]...>;
template <fixed_string S>
using spelled = decltype(spell_out<S>(std::make_index_sequence<S.view().size()>{}));

template <class Node, class Reads, bool Known>
inline constexpr bool node_reads_a_known_name = Known;
template <class Node, class Reads, bool Earlier>
inline constexpr bool node_reads_an_earlier_node = Earlier;
template <class Output, bool Known>
inline constexpr bool output_names_a_node = Known;

// Source index of the k-th name that node N (at position Pos) reads.
template <class Names, class N, std::size_t Pos, std::size_t k>
struct resolve_source {
  static constexpr auto src = N::from_list::template at<k>;
  static constexpr std::ptrdiff_t i = Names::find(src.view());
  static constexpr bool known = i >= 0 && static_cast<std::size_t>(i) < Pos;
  // In a function body, not the class body (see bind_checked in core/layer.hpp).
  static constexpr bool check() {
    static_assert(node_reads_a_known_name<spelled<N::name>, spelled<src>, (i >= 0)>,
                  "zoo::Graph: a node reads a name that is neither a graph input nor a node; check "
                  "the spelling in its from<...> (the requirement shown names the node, then the "
                  "name it reads)");
    static_assert(node_reads_an_earlier_node<spelled<N::name>, spelled<src>,
                                             (i < 0 || static_cast<std::size_t>(i) < Pos)>,
                  "zoo::Graph: a node reads itself or a node defined after it; nodes may read only "
                  "the graph's inputs and earlier nodes (the requirement shown names the node, then "
                  "the name it reads)");
    return known;
  }
  static constexpr bool ok = check();
  // A bad reference reads source 0 instead (and the node is not bound, see graph_build),
  // so only the static_assert above prints.
  static constexpr std::size_t value = known ? static_cast<std::size_t>(i) : 0;
};

template <class Names, class N, std::size_t Pos, class Ks>
struct node_sources_of;
template <class Names, class N, std::size_t Pos, std::size_t... k>
struct node_sources_of<Names, N, Pos, std::index_sequence<k...>> {
  using type = std::index_sequence<resolve_source<Names, N, Pos, k>::value...>;
  static constexpr bool ok = (resolve_source<Names, N, Pos, k>::ok && ...);
};
template <class Names, class N, std::size_t Pos>
struct node_sources {
  using of = node_sources_of<Names, N, Pos, std::make_index_sequence<N::from_list::size>>;
  // No from<>: the previous node, or the first input for the first node.
  using type = std::conditional_t<N::from_list::size == 0,
                                  std::index_sequence<(Pos == Names::K ? 0 : Pos - 1)>,
                                  typename of::type>;
  static constexpr bool ok = of::ok;
};

// Whether every source in I... is a graph input or a node that bound without error.
template <std::size_t K, class Layers, std::size_t... I>
constexpr bool sources_bound(std::index_sequence<I...>) {
  return ([] {
    if constexpr (I < K) return true;
    else return bind_ok_of<type_at_t<I - K, Layers>>();
  }() && ...);
}
template <class T, class Shapes, class Srcs, bool Ok>
struct bind_node;
template <class T, class Shapes, std::size_t... I, class N, bool Ok>
struct bind_node<T, Shapes, type_list<N, std::index_sequence<I...>>, Ok> {
  using type = bind_after_t<Ok, typename N::spec, T, type_at_t<I, Shapes>...>;
};

// Binds every node in order; each sees the shapes of all inputs and earlier nodes.
template <class T, class Names, class Shapes, class Layers, class Srcs, class Nodes>
struct graph_build {
  using layers = Layers;
  using sources = Srcs;
  using shapes = Shapes;
};
template <class T, class Names, class... Ss, class... Ls, class... Srcs, class N, class... Ns>
struct graph_build<T, Names, type_list<Ss...>, type_list<Ls...>, type_list<Srcs...>,
                   type_list<N, Ns...>> {
  using ns = node_sources<Names, N, sizeof...(Ss)>;
  using src = typename ns::type;
  static constexpr bool inputs_ok = ns::ok && sources_bound<Names::K, type_list<Ls...>>(src{});
  using L = typename bind_node<T, type_list<Ss...>, type_list<N, src>, inputs_ok>::type;
  using next = graph_build<T, Names, type_list<Ss..., typename L::output_shape>,
                           type_list<Ls..., L>, type_list<Srcs..., src>, type_list<Ns...>>;
  using layers = typename next::layers;
  using sources = typename next::sources;
  using shapes = typename next::shapes;
};

template <class Out>
struct output_positions {
  using type = std::make_index_sequence<Out::size>;
};
template <>
struct output_positions<void> {
  using type = std::index_sequence<>;
};
template <class Names, class Out, class Ks = typename output_positions<Out>::type>
struct output_indices;
template <class Names, class Out, std::size_t... k>
struct output_indices<Names, Out, std::index_sequence<k...>> {
  template <std::size_t kk>
  static constexpr std::size_t node_index() {
    constexpr std::ptrdiff_t i = Names::find(Out::names[kk]);
    static_assert(output_names_a_node<spelled<Out::template at<kk>>,
                                      (i >= static_cast<std::ptrdiff_t>(Names::K))>,
                  "zoo::Graph: Outputs<...> names something that is not a node of the graph (the "
                  "requirement shown names it)");
    return i < static_cast<std::ptrdiff_t>(Names::K) ? 0 : static_cast<std::size_t>(i) - Names::K;
  }
  static constexpr std::array<std::size_t, sizeof...(k)> value{node_index<k>()...};
  static constexpr bool unique() {
    for (std::size_t i = 0; i < value.size(); ++i)
      for (std::size_t j = i + 1; j < value.size(); ++j)
        if (value[i] == value[j]) return false;
    return true;
  }
  static_assert(unique(), "zoo::Graph: Outputs<...> names the same node twice");
};
template <class Names>
struct output_indices<Names, void, std::index_sequence<>> {
  static constexpr std::array<std::size_t, 1> value{Names::J - 1};
  static constexpr bool unique() { return true; }
};

template <class T, class InShapes, class... Items>
struct GraphLayer;

template <class Tag, class... InShapes, class... Items>
struct GraphLayer<Tag, type_list<InShapes...>, Items...> {
  using T = scalar_t<Tag>;  // Tag: the scalar type, or a backend's on<B, T> (core/backend.hpp)
  using mem = backend_ops<Tag>;
  using parsed = graph_parse<void, type_list<>, void, Items...>;
  using inputs_decl = std::conditional_t<std::is_void_v<typename parsed::inputs>, Inputs<"input">,
                                         typename parsed::inputs>;
  using names = graph_names<inputs_decl, typename parsed::nodes>;
  static constexpr std::size_t K = names::K;  // inputs
  static constexpr std::size_t J = names::J;  // nodes
  static_assert(J > 0, "zoo::Graph: give it at least one Node");
  static_assert(names::unique(), "zoo::Graph: two nodes (or a node and an input) share a name");
  static_assert(sizeof...(InShapes) == K,
                "zoo::Graph: the graph declares a different number of Inputs<...> than it is "
                "given input shapes");
  using built = graph_build<Tag, names, type_list<InShapes...>, type_list<>, type_list<>,
                            typename parsed::nodes>;
  using layers = typename built::layers;
  using sources = typename built::sources;
  using shapes = typename built::shapes;  // inputs, then node outputs
  static constexpr auto outputs = output_indices<names, typename parsed::outputs>::value;
  static constexpr std::size_t O = outputs.size();

  template <std::size_t J0>
  using layer_t = type_at_t<J0, layers>;
  template <std::size_t J0>
  using sources_t = type_at_t<J0, sources>;
  template <std::size_t S0>
  using shape_t = type_at_t<S0, shapes>;
  template <std::size_t O0>
  using output_shape_at = typename layer_t<outputs[O0]>::output_shape;

  static constexpr std::size_t arity = K;
  using input_shapes = type_list<InShapes...>;
  using input_shape = type_at_t<0, input_shapes>;
  using output_shape = output_shape_at<0>;  // of the first output
  static constexpr const char* name() { return "Graph"; }

  template <class Seq>
  struct sum_over;
  template <std::size_t... I>
  struct sum_over<std::index_sequence<I...>> {
    static constexpr bool ok = (bind_ok_of<layer_t<I>>() && ...);
    static constexpr std::size_t params = (num_params_of<layer_t<I>>() + ... + 0);
    static constexpr std::size_t buffers = (num_buffers_of<layer_t<I>>() + ... + 0);
    static constexpr double flops = (flops_of<layer_t<I>>() + ... + 0.0);
  };
  static constexpr bool bind_ok = sum_over<std::make_index_sequence<J>>::ok;
  static constexpr std::size_t num_params = sum_over<std::make_index_sequence<J>>::params;
  static constexpr std::size_t num_buffers = sum_over<std::make_index_sequence<J>>::buffers;
  static constexpr double flops = sum_over<std::make_index_sequence<J>>::flops;

  template <class Ls>
  struct storage;
  template <class... Ls>
  struct storage<type_list<Ls...>> {
    using type = Slots<std::index_sequence_for<Ls...>, Ls...>;
  };
  typename storage<layers>::type slots;
  // Training keeps in act[j] only the values some backward reads (saved<j>()); every other
  // value lives in the working memory ws during forward, and the gradients live in ws during
  // backward (train_fwd_plan(), train_bwd_plan()). The caller gives ws (a model's arena, or the container above's);
  // a graph run on its own (resize, forward, backward) uses own_ws.
  std::array<typename mem::template buffer<T>, J> act;
  typename mem::template buffer<T> own_ws;
  std::array<const T*, K + J> src{};  // where each source's values are, this pass
  // Where each node's output gradient is accumulated (in ws), and where backward reads it:
  // the same, or the caller's dy for an output that no node reads (a Conv block's act).
  std::array<T*, J> gout{};
  std::array<const T*, J> gin{};

  // A node named "_..." adds no name of its own: its parameters keep the names they have in it.
  static std::string node_prefix(const std::string& prefix, std::string_view name) {
    return !name.empty() && name[0] == '_' ? prefix : layer_ops::join(prefix, std::string(name));
  }
  template <std::size_t J0>
  auto& node() {
    return slot_get<J0>(slots);
  }
  template <std::size_t J0>
  const auto& node() const {
    return slot_get<J0>(slots);
  }
  // Whether a node named Name is here or in a "_…" node (whose names are lent to this graph).
  template <fixed_string Name>
  static constexpr bool holds() {
    return names::find(Name.view()) >= static_cast<std::ptrdiff_t>(K) || lender<Name>() < J;
  }
  // The "_…" node that holds Name (J: none).
  template <fixed_string Name>
  static constexpr std::size_t lender() {
    std::size_t r = J;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((r == J && names::names[K + I].starts_with('_') && holds_in<layer_t<I>, Name>()
            ? void(r = I)
            : void()),
       ...);
    }(std::make_index_sequence<J>{});
    return r;
  }
  template <class L, fixed_string Name>
  static constexpr bool holds_in() {
    if constexpr (requires { L::template holds<Name>(); }) return L::template holds<Name>();
    else return false;
  }
  // The node named Name, here or in a "_…" node.
  template <fixed_string Name>
  auto& get() {
    constexpr std::ptrdiff_t i = names::find(Name.view());
    if constexpr (i >= static_cast<std::ptrdiff_t>(K)) {
      return node<static_cast<std::size_t>(i) - K>();
    } else if constexpr (lender<Name>() < J) {
      return node<lender<Name>()>().template get<Name>();
    } else {
      static_assert(i >= static_cast<std::ptrdiff_t>(K),
                    "zoo::Graph::get<\"name\">: no node has this name (here or in a \"_...\" node)");
      return node<0>();
    }
  }
  template <fixed_string Name>
  const auto& get() const {
    return const_cast<GraphLayer&>(*this).template get<Name>();
  }

  template <class F>
  void each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(node<I>()), ...); }(
        std::make_index_sequence<J>{});
  }
  void bind_params(T*& p, T*& g) {
    each([&](auto& l) { layer_ops::bind_params(l, p, g); });
  }
  void bind_buffers(T*& b) {
    each([&](auto& l) { layer_ops::bind_buffers(l, b); });
  }
  void init(Rng& r) {
    each([&](auto& l) { layer_ops::init(l, r); });
  }
  void bind_rng(Rng* r) {
    each([&](auto& l) { layer_ops::bind_rng(l, r); });
  }
  void bind_sync(Collective* c) {
    each([&](auto& l) { layer_ops::bind_sync(l, c); });
  }
  void set_training(bool t) {
    each([&](auto& l) { layer_ops::set_training(l, t); });
  }
  void set_frozen(bool f) {
    each([&](auto& l) { layer_ops::set_frozen(l, f); });
  }
  // Sizes the saved values and the nodes; the working memory is the caller's.
  void resize_nested(std::size_t n) {
    static_assert(plan::disjoint(detail::train_fwd_plan_v<GraphLayer>.intervals,
                                 detail::train_fwd_plan_v<GraphLayer>.placement) &&
                      plan::disjoint(detail::train_bwd_plan_v<GraphLayer>.intervals,
                                     detail::train_bwd_plan_v<GraphLayer>.placement),
                  "zoo: a memory plan lets two live values overlap (a bug in core/plan.hpp)");
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (act[I].resize(saved<I>() ? n * layer_t<I>::output_shape::size : 0), ...);
    }(std::make_index_sequence<J>{});
    each([&](auto& l) { layer_ops::resize_nested(l, n); });
  }
  // On its own (a graph used directly, not inside a model): its own working memory too.
  void resize(std::size_t n) {
    resize_nested(n);
    own_ws.resize(train_scratch() * n);
  }

  // Every y[o] is given: outputs are written where the caller wants them.
  void forward_all(const std::array<const T*, K>& x, const std::array<T*, O>& y, std::size_t n) {
    forward_all_ws(x, y, n, own_ws.data());
  }
  void forward_all_ws(const std::array<const T*, K>& x, const std::array<T*, O>& y,
                      std::size_t n, T* ws) {
    if constexpr (plan::kPoison) mem::poison(ws, train_scratch() * n);
    for (std::size_t k = 0; k < K; ++k) src[k] = x[k];
    [&]<std::size_t... I>(std::index_sequence<I...>) { (forward_node<I>(y, n, ws), ...); }(
        std::make_index_sequence<J>{});
  }
  // dy[o] is the gradient of output o (null: it does not reach the loss); dx[k] == nullptr:
  // input k needs no gradient. ws: the same size as forward's; its contents are not needed.
  void backward_all(const std::array<const T*, O>& dy, const std::array<T*, K>& dx,
                    std::size_t n) {
    backward_all_ws(dy, dx, n, own_ws.data());
  }
  void backward_all_ws(const std::array<const T*, O>& dy, const std::array<T*, K>& dx,
                       std::size_t n, T* ws) {
    constexpr const auto& B = detail::train_bwd_plan_v<GraphLayer>;
    // Whatever forward left in ws is dead: a backward that read it would read NaN.
    if constexpr (plan::kPoison) mem::poison(ws, train_scratch() * n);
    // One output, no gradient: every gradient is zero, as a Sequential's backward with none.
    if constexpr (O == 1 && dy_in_place<outputs[0]>())
      if (!dy[0]) return;
    for (std::size_t j = 0; j < J; ++j) gin[j] = gout[j] = ws + B.out[J - 1 - j] * n;
    [&]<std::size_t... I>(std::index_sequence<I...>) { (add_output_grad<I>(dy, n), ...); }(
        std::make_index_sequence<O>{});
    [&]<std::size_t... R>(std::index_sequence<R...>) {
      (backward_node<J - 1 - R>(dx, n, ws), ...);
    }(std::make_index_sequence<J>{});
  }
  const T* output_ptr(std::size_t o) const { return src[K + outputs[o]]; }

  // ---- inference in a planned arena (core/plan.hpp). Node j's value lives from the node
  // that writes it (j, or j − 1 for an activation its Linear or norm computes) to its last
  // reader; outputs go to the caller's y; an element-wise node whose only input is read
  // last by it writes over that input; a node that is a container gets working memory.
  static constexpr plan::Nodes<J> infer_nodes() {
    plan::Nodes<J> nd{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((nd.out[I] = output_slot<I>() >= 0 || fuses<I>() || fuses_norm<I>()
                        ? 0
                        : plan::round_up(layer_t<I>::output_shape::size),
        nd.ws[I] = fused_away<I>() ? 0 : plan::round_up(infer_scratch_of<layer_t<I>>()),
        nd.made[I] = fused_away<I>() ? I - 1 : I, nd.last[I] = last_reader<I>(),
        nd.inplace_of[I] = in_place_over<I>()),
       ...);
    }(std::make_index_sequence<J>{});
    return nd;
  }
  static constexpr plan::NodePlan<J> infer_plan() { return plan::plan_nodes(infer_nodes()); }
  static constexpr std::size_t infer_scratch() { return infer_scratch_of<GraphLayer>(); }
  // What training keeps from forward to backward, per sample: the saved values and what the
  // nodes keep (working memory is train_scratch(), the caller's).
  static constexpr std::size_t train_values() {
    std::size_t v = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((v += (saved<I>() ? layer_t<I>::output_shape::size : 0) + train_values_of<layer_t<I>>()),
       ...);
    }(std::make_index_sequence<J>{});
    return v;
  }

  // ---- training plan. Forward: the values no backward reads, placed as in inference (in
  // place only between two such values), and each node's working memory. Backward, at
  // positions r = J − 1 − j: node j's output gradient from the first node that adds into it
  // (its last reader; the start for an output) to node j's backward (its norm's, when a
  // BatchNorm computes it), and each node's working memory.
  static constexpr plan::Nodes<J> train_fwd_nodes() {
    plan::Nodes<J> nd{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((nd.out[I] = output_slot<I>() >= 0 || fuses<I>() || fuses_norm<I>() || saved<I>()
                        ? 0
                        : plan::round_up(layer_t<I>::output_shape::size),
        nd.ws[I] = fused_away<I>() ? 0 : plan::round_up(train_scratch_of<layer_t<I>>()),
        nd.made[I] = fused_away<I>() ? I - 1 : I, nd.last[I] = last_reader<I>(),
        nd.inplace_of[I] = train_in_place_over<I>()),
       ...);
    }(std::make_index_sequence<J>{});
    return nd;
  }
  static constexpr plan::Nodes<J> train_bwd_nodes() {  // indexed by position r = J − 1 − j
    plan::Nodes<J> nd{};
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((nd.out[J - 1 - I] = fuses_norm<I>() || dy_in_place<I>()
                                ? 0
                                : plan::round_up(layer_t<I>::output_shape::size),
        nd.ws[J - 1 - I] =
            norm_fused_away<I>() ? 0 : plan::round_up(train_scratch_of<layer_t<I>>()),
        nd.made[J - 1 - I] = grad_first<I>(), nd.last[J - 1 - I] = grad_last<I>(),
        nd.inplace_of[J - 1 - I] = J - 1 - I),
       ...);
    }(std::make_index_sequence<J>{});
    return nd;
  }
  static constexpr plan::NodePlan<J> train_fwd_plan() { return plan::plan_nodes(train_fwd_nodes()); }
  static constexpr plan::NodePlan<J> train_bwd_plan() { return plan::plan_nodes(train_bwd_nodes()); }
  static constexpr std::size_t train_scratch() { return train_scratch_of<GraphLayer>(); }
  // Whether this graph's backward reads its inputs' values, or its output's.
  static constexpr bool backward_reads_input() {
    return []<std::size_t... k>(std::index_sequence<k...>) {
      return (read_in_backward<k>() || ...);
    }(std::make_index_sequence<K>{});
  }
  static constexpr bool backward_reads_input_at(std::size_t k) {
    return [k]<std::size_t... k2>(std::index_sequence<k2...>) {
      return ((k2 == k && read_in_backward<k2>()) || ...);
    }(std::make_index_sequence<K>{});
  }
  static constexpr bool backward_reads_output() {
    constexpr std::size_t o = outputs[0];
    return (!norm_fused_away<o>() && backward_reads_y_of<layer_t<o>>()) ||
           read_in_backward<K + o>();
  }

  void reserve_infer(std::size_t n) {
    static_assert(plan::disjoint(detail::infer_plan_v<GraphLayer>.intervals,
                                 detail::infer_plan_v<GraphLayer>.placement),
                  "zoo: a memory plan lets two live values overlap (a bug in core/plan.hpp)");
    each([&](auto& l) { layer_ops::reserve_infer(l, n); });
  }
  // Every y[o] must be given: outputs are written where the caller wants them.
  void forward_all_infer(const std::array<const T*, K>& x, const std::array<T*, O>& y,
                         std::size_t n, T* ws) {
    if constexpr (plan::kPoison) mem::poison(ws, infer_scratch() * n);
    for (std::size_t k = 0; k < K; ++k) src[k] = x[k];
    [&]<std::size_t... I>(std::index_sequence<I...>) { (infer_node<I>(y, n, ws), ...); }(
        std::make_index_sequence<J>{});
  }
  void forward_infer(const T* x, T* y, std::size_t n, T* ws)
    requires(K == 1 && O == 1)
  {
    forward_all_infer({x}, {y}, n, ws);
  }
  void forward_infer(const std::array<const T*, K>& x, T* y, std::size_t n, T* ws)
    requires(K > 1 && O == 1)
  {
    forward_all_infer(x, {y}, n, ws);
  }

  // The layer contract, for a graph used as a node or in a Sequential.
  void forward(const T* x, T* y, std::size_t n)
    requires(K == 1 && O == 1)
  {
    forward_all({x}, {y}, n);
  }
  void forward(const std::array<const T*, K>& x, T* y, std::size_t n)
    requires(K > 1 && O == 1)
  {
    forward_all(x, {y}, n);
  }
  void backward(const T*, const T*, const T* dy, T* dx, std::size_t n)
    requires(K == 1 && O == 1)
  {
    backward_all({dy}, {dx}, n);
  }
  void backward(const std::array<const T*, K>&, const T*, const T* dy,
                const std::array<T*, K>& dx, std::size_t n)
    requires(K > 1 && O == 1)
  {
    backward_all({dy}, dx, n);
  }
  // The same inside a container that gives the working memory.
  void forward_ws(const T* x, T* y, std::size_t n, T* ws)
    requires(K == 1 && O == 1)
  {
    forward_all_ws({x}, {y}, n, ws);
  }
  void forward_ws(const std::array<const T*, K>& x, T* y, std::size_t n, T* ws)
    requires(K > 1 && O == 1)
  {
    forward_all_ws(x, {y}, n, ws);
  }
  void backward_ws(const T*, const T*, const T* dy, T* dx, std::size_t n, T* ws)
    requires(K == 1 && O == 1)
  {
    backward_all_ws({dy}, {dx}, n, ws);
  }
  void backward_ws(const std::array<const T*, K>&, const T*, const T* dy,
                   const std::array<T*, K>& dx, std::size_t n, T* ws)
    requires(K > 1 && O == 1)
  {
    backward_all_ws({dy}, dx, n, ws);
  }

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::visit_params(node<I>(), node_prefix(prefix, names::names[K + I]),
                               f),
       ...);
    }(std::make_index_sequence<J>{});
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::visit_buffers(node<I>(),
                                node_prefix(prefix, names::names[K + I]), f),
       ...);
    }(std::make_index_sequence<J>{});
  }
  void summary(const std::string& prefix, std::vector<SummaryRow>& rows) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::summary(node<I>(), node_prefix(prefix, names::names[K + I]),
                          rows),
       ...);
    }(std::make_index_sequence<J>{});
  }

 private:
  template <std::size_t J0>
  static constexpr std::ptrdiff_t output_slot() {
    for (std::size_t o = 0; o < O; ++o)
      if (outputs[o] == J0) return static_cast<std::ptrdiff_t>(o);
    return -1;
  }
  // Compile-time facts about the wiring (public: tests and users can static_assert them).
 public:
  // How many node inputs read source S0 (an input or K + a node).
  template <std::size_t S0>
  static constexpr std::size_t uses() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (count_in(sources_t<I>{}, S0) + ... + std::size_t{0});
    }(std::make_index_sequence<J>{});
  }
  template <std::size_t... S>
  static constexpr std::size_t count_in(std::index_sequence<S...>, std::size_t s) {
    return ((S == s ? std::size_t{1} : std::size_t{0}) + ... + std::size_t{0});
  }
  // The node that reads source S0 (the first, if several do).
  template <std::size_t S0>
  static constexpr std::size_t consumer() {
    std::size_t c = J;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((c == J && count_in(sources_t<I>{}, S0) > 0 ? void(c = I) : void()), ...);
    }(std::make_index_sequence<J>{});
    return c;
  }
  // Node S0 − K's gradient is written whole by its only reader, a one-input layer
  // with backward_overwrite (Linear, activations): it need not be cleared first.
  template <std::size_t S0>
  static constexpr bool overwritten() {
    if constexpr (S0 < K) {
      return false;
    } else if constexpr (uses<S0>() != 1 || output_slot<S0 - K>() >= 0) {
      return false;
    } else {
      using C = layer_t<consumer<S0>()>;
      if constexpr (layer_arity<C>() != 1) return false;
      else
        return overwrites_dx<C, T>;
    }
  }
  // Node J0 is an output (once) that no node reads: its gradient is dy, copied.
  template <std::size_t J0>
  static constexpr bool sole_output() {
    if constexpr (uses<K + J0>() != 0) {
      return false;
    } else {
      std::size_t c = 0;
      for (std::size_t o = 0; o < O; ++o) c += outputs[o] == J0;
      return c == 1;
    }
  }
  // Node J0's gradient is always the caller's dy, read in place, so the plan gives it no
  // memory: the only output, read by no node (a nested graph's, above all; its parent keeps
  // that gradient already).
  template <std::size_t J0>
  static constexpr bool dy_in_place() {
    return O == 1 && sole_output<J0>();
  }
  // Node J0 + 1 reads node J0 alone, and nothing else reads node J0 or returns it: the two
  // may run as one (J0 + 1 < J; J0 a one-input layer).
  template <std::size_t J0>
  static constexpr bool private_pair() {
    return std::is_same_v<sources_t<J0 + 1>, std::index_sequence<K + J0>> &&
           uses<K + J0>() == 1 && output_slot<J0>() < 0 && layer_arity<layer_t<J0>>() == 1;
  }
  // Node J0 (a Linear) computes node J0 + 1's output too when J0 + 1 is an activation
  // whose backward reads only its output (ReLU, Tanh, Sigmoid, LeakyReLU) and reads
  // nothing but J0, and nothing else reads J0 — as Sequential fuses (architecture.md §4).
  template <std::size_t J0>
  static constexpr bool fuses() {
    if constexpr (J0 + 1 >= J) {
      return false;
    } else {
      return private_pair<J0>() && fuses_with<T, layer_t<J0>, layer_t<J0 + 1>>();
    }
  }
  // Node J0 (a BatchNorm) computes node J0 + 1's output too when J0 + 1 is an activation
  // that reads nothing but J0 and nothing else reads J0 (YOLOv5's Conv: conv → bn → act):
  // forward_then writes the activation's output, backward_then takes its gradient, and
  // node J0's own output and gradient are never stored (BatchNorm's forward_then).
  template <std::size_t J0>
  static constexpr bool fuses_norm() {
    if constexpr (J0 + 1 >= J) {
      return false;
    } else {
      return private_pair<J0>() && norm_fuses_with<T, layer_t<J0>, layer_t<J0 + 1>>();
    }
  }
  // Node J0's forward (and, after a norm, its backward) is done by node J0 − 1's.
  template <std::size_t J0>
  static constexpr bool norm_fused_away() {
    if constexpr (J0 == 0) return false;
    else return fuses_norm<J0 - 1>();
  }
  template <std::size_t J0>
  static constexpr bool fused_away() {
    if constexpr (J0 == 0) return false;
    else return fuses<J0 - 1>() || fuses_norm<J0 - 1>();
  }

 private:
  template <std::size_t J0>
  void forward_node(const std::array<T*, O>& y, std::size_t n, T* ws) {
    constexpr const auto& F = detail::train_fwd_plan_v<GraphLayer>;
    T* out = train_value<J0>(y, n, ws);
    src[K + J0] = out;
    if constexpr (!fused_away<J0>()) {  // else node J0 − 1 wrote this node's output
#ifdef ZOO_PROFILE
      using L = layer_t<J0>;
      profile::Scope timed(&node<J0>(), names::names[K + J0],
                           layer_ops::type_name(node<J0>()).c_str(),
                           !requires(L& l) { l.each([](auto&) {}); }, false);
#endif
      T* next = nullptr;  // the fused activation's value
      if constexpr (fuses<J0>() || fuses_norm<J0>()) next = train_value<J0 + 1>(y, n, ws);
      run_node<J0, false>(out, next, n, ws + F.ws[J0] * n);
    }
    if constexpr (plan::kPoison) poison_after(F, J0, ws, n);
  }
  // Node J0 on its sources: writes out, or `next` (node J0 + 1's value) when it computes the
  // activation after it too; w is its working memory. Infer: the inference entry points.
  template <std::size_t J0, bool Infer>
  void run_node(T* out, T* next, std::size_t n, T* w) {
    using L = layer_t<J0>;
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      if constexpr (fuses<J0>()) {
        using Fn = typename layer_t<J0 + 1>::fn;
        if constexpr (Infer) layer_ops::forward_act_infer<Fn>(node<J0>(), src[S]..., next, n, w);
        else node<J0>().template forward_act<Fn>(src[S]..., next, n);
      } else if constexpr (fuses_norm<J0>()) {
        node<J0>().template forward_then<typename layer_t<J0 + 1>::fn>(src[S]..., next, n);
      } else if constexpr (layer_arity<L>() == 1) {
        if constexpr (Infer) layer_ops::forward_infer(node<J0>(), src[S]..., out, n, w);
        else layer_ops::forward_ws(node<J0>(), src[S]..., out, n, w);
      } else {
        const std::array<const T*, sizeof...(S)> xs{src[S]...};
        if constexpr (Infer) layer_ops::forward_infer(node<J0>(), xs, out, n, w);
        else layer_ops::forward_ws(node<J0>(), xs, out, n, w);
      }
    }(sources_t<J0>{});
  }
  // After position r of a plan: the values last read there, and that position's working memory.
  template <class NP>
  static void poison_after(const NP& p, std::size_t r, T* ws, std::size_t n) {
    for (std::size_t v = 0; v < J; ++v) {
      const auto& iv = p.intervals[v];
      if (p.root[v] == v && iv.size > 0 && iv.last == r && iv.last != iv.first)
        mem::poison(ws + p.out[v] * n, iv.size * n);
    }
    mem::poison(ws + p.ws[r] * n, p.intervals[J + r].size * n);
  }
  template <std::size_t J0>
  static constexpr std::size_t last_reader() {
    std::size_t l = fused_away<J0>() ? J0 - 1 : J0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((count_in(sources_t<I>{}, K + J0) > 0 && I > l ? void(l = I) : void()), ...);
    }(std::make_index_sequence<J>{});
    return l;
  }
  template <std::size_t... S>
  static constexpr std::size_t first_of(std::index_sequence<S...>) {
    constexpr std::array<std::size_t, sizeof...(S)> a{S...};
    return a[0];
  }
  // Node J0 computes in place over node i's value when it is an element-wise one-input
  // node, i's value is in the arena (not an output, not fused away) and J0 reads it last.
  template <std::size_t J0>
  static constexpr std::size_t in_place_over() {
    using L = layer_t<J0>;
    if constexpr (layer_arity<L>() != 1 || !computes_in_place<L>() || fused_away<J0>() ||
                  fuses<J0>() || fuses_norm<J0>() || output_slot<J0>() >= 0) {
      return J0;
    } else {
      constexpr std::size_t s = first_of(sources_t<J0>{});
      if constexpr (s < K) {
        return J0;
      } else {
        constexpr std::size_t i = s - K;
        if constexpr (output_slot<i>() >= 0 || fuses<i>() || fuses_norm<i>() ||
                      last_reader<i>() != J0 ||
                      layer_t<i>::output_shape::size != L::output_shape::size)
          return J0;
        else
          return i;
      }
    }
  }
 public:
  // Whether some backward reads source S0 (an input, or K + a node) as its x.
  template <std::size_t S0>
  static constexpr bool read_in_backward() {
    bool r = false;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((!norm_fused_away<I>() && reads_source<layer_t<I>>(sources_t<I>{}, S0) ? void(r = true)
                                                                             : void()),
       ...);
    }(std::make_index_sequence<J>{});
    return r;
  }
  // Whether layer L's backward reads source s, given at the positions where it is in S...
  template <class L, std::size_t... S>
  static constexpr bool reads_source(std::index_sequence<S...>, std::size_t s) {
    bool r = false;
    std::size_t p = 0;
    ((r = r || (S == s && backward_reads_x_of<L>(p)), ++p), ...);
    return r;
  }
  // Node J0's value is kept from forward to backward: its own backward reads it (y), or a
  // reader's does (x). An output lives in the caller's buffer, a fused Linear's or norm's
  // value is never written.
  template <std::size_t J0>
  static constexpr bool saved() {
    if constexpr (output_slot<J0>() >= 0 || fuses<J0>() || fuses_norm<J0>())
      return false;
    else
      return (!norm_fused_away<J0>() && backward_reads_y_of<layer_t<J0>>()) ||
             read_in_backward<K + J0>();
  }
  template <std::size_t J0>
  static constexpr std::size_t train_in_place_over() {
    constexpr std::size_t i = in_place_over<J0>();
    if constexpr (i != J0 && !saved<J0>() && !saved<i>()) return i;
    else return J0;
  }
  // The last node that reads node J0 (J when none does).
  template <std::size_t J0>
  static constexpr std::size_t last_consumer() {
    std::size_t c = J;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((count_in(sources_t<I>{}, K + J0) > 0 ? void(c = I) : void()), ...);
    }(std::make_index_sequence<J>{});
    return c;
  }
  // Backward positions (r = J − 1 − j) where node J0's gradient is first written and last read.
  template <std::size_t J0>
  static constexpr std::size_t grad_first() {
    if constexpr (output_slot<J0>() >= 0) return 0;  // dy arrives before any node runs
    else if constexpr (last_consumer<J0>() < J) return J - 1 - last_consumer<J0>();
    else return J - 1 - J0;  // read by nobody: zeros, cleared just before its backward
  }
  template <std::size_t J0>
  static constexpr std::size_t grad_last() {
    if constexpr (norm_fused_away<J0>()) return J - J0;  // read by the norm's backward_then
    else return J - 1 - J0;
  }
  // The node before whose backward node J0's gradient is cleared (J: never; an output's is
  // set from dy, one read only by an overwriting node is written outright).
  template <std::size_t J0>
  static constexpr std::size_t clear_before() {
    if constexpr (output_slot<J0>() >= 0 || overwritten<K + J0>() || fuses_norm<J0>()) return J;
    else if constexpr (last_consumer<J0>() < J) return last_consumer<J0>();
    else return J0;
  }
 private:
  template <std::size_t J0>
  T* train_value(const std::array<T*, O>& y, std::size_t n, T* ws) {
    constexpr std::ptrdiff_t o = output_slot<J0>();
    if constexpr (o >= 0) return y[o];
    else if constexpr (saved<J0>()) return act[J0].data();
    else return ws + detail::train_fwd_plan_v<GraphLayer>.out[J0] * n;
  }
  template <std::size_t J0>
  T* infer_value(const std::array<T*, O>& y, std::size_t n, T* ws) {
    constexpr std::ptrdiff_t o = output_slot<J0>();
    if constexpr (o >= 0) return y[o];
    else return ws + detail::infer_plan_v<GraphLayer>.out[J0] * n;
  }
  template <std::size_t J0>
  void infer_node(const std::array<T*, O>& y, std::size_t n, T* ws) {
    constexpr const auto& P = detail::infer_plan_v<GraphLayer>;
    T* out = infer_value<J0>(y, n, ws);
    src[K + J0] = out;
    if constexpr (!fused_away<J0>()) {
#ifdef ZOO_PROFILE
      using L = layer_t<J0>;
      profile::Scope timed(&node<J0>(), names::names[K + J0],
                           layer_ops::type_name(node<J0>()).c_str(),
                           !requires(L& l) { l.each([](auto&) {}); }, false);
#endif
      T* next = nullptr;
      if constexpr (fuses<J0>() || fuses_norm<J0>()) next = infer_value<J0 + 1>(y, n, ws);
      run_node<J0, true>(out, next, n, ws + P.ws[J0] * n);
    }
    if constexpr (plan::kPoison) poison_after(P, J0, ws, n);
  }

  template <std::size_t O0>
  void add_output_grad(const std::array<const T*, O>& dy, std::size_t n) {
    constexpr std::size_t j = outputs[O0];
    T* g = gout[j];
    const std::size_t len = n * layer_t<j>::output_shape::size;
    if constexpr (sole_output<j>()) {
      if (dy[O0]) {
        gin[j] = dy[O0];  // nothing adds into it: read the caller's dy in place
        return;
      }
    }
    if (dy[O0]) mem::copy(dy[O0], len, g);
    else mem::fill(g, len, T(0));
  }
  template <std::size_t S0>
  T* grad_of(const std::array<T*, K>& dx) {
    if constexpr (S0 < K) return dx[S0];
    else return gout[S0 - K];
  }
  template <std::size_t... S>
  static constexpr bool all_overwritten(std::index_sequence<S...>) {
    return (overwritten<S>() && ...);
  }
  template <std::size_t J0>
  void backward_node(const std::array<T*, K>& dx, std::size_t n, T* ws) {
    using L = layer_t<J0>;
    // Decided here, outside the lambda: clang (14 and 19) took the overwrite branch for
    // nodes whose fold over the lambda's own pack was false.
    constexpr bool overwrite = layer_arity<L>() == 1 && all_overwritten(sources_t<J0>{});
    constexpr const auto& B = detail::train_bwd_plan_v<GraphLayer>;
    constexpr std::size_t r = J - 1 - J0;
    if constexpr (!norm_fused_away<J0>()) {  // else done in node J0 − 1's backward_then
      // Gradients this node is the first to add into start from zero.
      [&]<std::size_t... V>(std::index_sequence<V...>) {
        ((clear_before<V>() == J0
              ? mem::fill(gout[V], n * layer_t<V>::output_shape::size, T(0))
              : void()),
         ...);
      }(std::make_index_sequence<J>{});
#ifdef ZOO_PROFILE
      profile::Scope timed(&node<J0>(), names::names[K + J0],
                           layer_ops::type_name(node<J0>()).c_str(),
                           !requires(L& l) { l.each([](auto&) {}); }, true);
#endif
      T* w = ws + B.ws[r] * n;
      [&]<std::size_t... S>(std::index_sequence<S...>) {
        if constexpr (fuses_norm<J0>())
          node<J0>().template backward_then<typename layer_t<J0 + 1>::fn, overwrite>(
              src[S]..., gin[J0 + 1], grad_of<S>(dx)..., n);
        else if constexpr (overwrite)
          node<J0>().backward_overwrite(src[S]..., src[K + J0], gin[J0], grad_of<S>(dx)...,
                                        n);
        else if constexpr (layer_arity<L>() == 1)
          layer_ops::backward_ws(node<J0>(), src[S]..., src[K + J0], gin[J0],
                                 grad_of<S>(dx)..., n, w);
        else
          layer_ops::backward_ws(node<J0>(), std::array<const T*, sizeof...(S)>{src[S]...},
                                 src[K + J0], gin[J0],
                                 std::array<T*, sizeof...(S)>{grad_of<S>(dx)...}, n, w);
      }(sources_t<J0>{});
    }
    if constexpr (plan::kPoison) poison_after(B, r, ws, n);
  }
};
}  // namespace detail

template <class... Items>
struct Graph {
  static constexpr bool backend_aware = true;  // binds its nodes for the model's backend
  static constexpr std::size_t arity = [] {
    using parsed = detail::graph_parse<void, type_list<>, void, Items...>;
    if constexpr (std::is_void_v<typename parsed::inputs>) return std::size_t{1};
    else return detail::graph_names<typename parsed::inputs, type_list<>>::K;
  }();
  template <class T, class... Ins>
  using bind = detail::GraphLayer<T, type_list<Ins...>, Items...>;
};

}  // namespace zoo

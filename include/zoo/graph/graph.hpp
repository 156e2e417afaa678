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

template <class T, class... InShapes, class... Items>
struct GraphLayer<T, type_list<InShapes...>, Items...> {
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
  using built = graph_build<T, names, type_list<InShapes...>, type_list<>, type_list<>,
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
  std::array<Buffer<T>, J> act;
  std::array<Buffer<T>, J> grad;
  std::array<const T*, K + J> src{};  // where each source's values are, this pass
  // Where each node's output gradient is read from in backward: its own buffer, or the
  // caller's dy for an output that no node reads (a Conv block's act): not copied.
  std::array<const T*, J> gin{};

  template <std::size_t J0>
  auto& node() {
    return slot_get<J0>(slots);
  }
  template <std::size_t J0>
  const auto& node() const {
    return slot_get<J0>(slots);
  }
  template <fixed_string Name>
  static constexpr std::size_t index_of() {
    constexpr std::ptrdiff_t i = names::find(Name.view());
    static_assert(i >= static_cast<std::ptrdiff_t>(K), "zoo::Graph::get<\"name\">: no node has this name");
    return static_cast<std::size_t>(i) - K;
  }
  template <fixed_string Name>
  auto& get() {
    return node<index_of<Name>()>();
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
  void resize(std::size_t n) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      // A norm fused with its activation never stores its output or its gradient.
      ((act[I].resize(fuses_norm<I>() ? 0 : n * layer_t<I>::output_shape::size),
        grad[I].resize(fuses_norm<I>() ? 0 : n * layer_t<I>::output_shape::size)),
       ...);
    }(std::make_index_sequence<J>{});
    each([&](auto& l) { layer_ops::resize(l, n); });
  }

  // y[o] == nullptr: output o stays in the graph's own buffer (see output_ptr).
  void forward_all(const std::array<const T*, K>& x, const std::array<T*, O>& y, std::size_t n) {
    for (std::size_t k = 0; k < K; ++k) src[k] = x[k];
    [&]<std::size_t... I>(std::index_sequence<I...>) { (forward_node<I>(y, n), ...); }(
        std::make_index_sequence<J>{});
  }
  // dy[o] is the gradient of output o; dx[k] == nullptr: input k needs no gradient.
  void backward_all(const std::array<const T*, O>& dy, const std::array<T*, K>& dx,
                    std::size_t n) {
    // A node's gradient is cleared only when something adds into it: not when its one
    // consumer writes it outright (backward_overwrite), nor when it is an output that
    // nothing else reads (its gradient is then dy itself, read in place: gin).
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((overwritten<K + I>() || sole_output<I>()
            ? void()
            : parallel_fill(grad[I].data(), n * layer_t<I>::output_shape::size, T(0))),
       ...);
    }(std::make_index_sequence<J>{});
    for (std::size_t j = 0; j < J; ++j) gin[j] = grad[j].data();
    [&]<std::size_t... I>(std::index_sequence<I...>) { (add_output_grad<I>(dy, n), ...); }(
        std::make_index_sequence<O>{});
    [&]<std::size_t... R>(std::index_sequence<R...>) { (backward_node<J - 1 - R>(dx, n), ...); }(
        std::make_index_sequence<J>{});
  }
  const T* output_ptr(std::size_t o) const { return src[K + outputs[o]]; }

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

  template <class F>
  void visit_params(const std::string& prefix, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::visit_params(node<I>(), layer_ops::join(prefix, std::string(names::names[K + I])),
                               f),
       ...);
    }(std::make_index_sequence<J>{});
  }
  template <class F>
  void visit_buffers(const std::string& prefix, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::visit_buffers(node<I>(),
                                layer_ops::join(prefix, std::string(names::names[K + I])), f),
       ...);
    }(std::make_index_sequence<J>{});
  }
  void summary(const std::string& prefix, std::vector<SummaryRow>& rows) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer_ops::summary(node<I>(), layer_ops::join(prefix, std::string(names::names[K + I])),
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
  T* out_ptr(const std::array<T*, O>& y) {
    constexpr std::ptrdiff_t o = output_slot<J0>();
    if constexpr (o >= 0)
      if (y[o]) return y[o];
    return act[J0].data();
  }
  template <std::size_t J0>
  void forward_node(const std::array<T*, O>& y, std::size_t n) {
    T* out = out_ptr<J0>(y);
    src[K + J0] = out;
    if constexpr (fused_away<J0>()) return;  // node J0 − 1 wrote this node's output
    using L = layer_t<J0>;
#ifdef ZOO_PROFILE
    profile::Scope timed(&node<J0>(), names::names[K + J0], layer_ops::type_name(node<J0>()).c_str(),
                         !requires(L& l) { l.each([](auto&) {}); }, false);
#endif
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      if constexpr (fuses<J0>())
        node<J0>().template forward_act<typename layer_t<J0 + 1>::fn>(src[S]...,
                                                                      out_ptr<J0 + 1>(y), n);
      else if constexpr (fuses_norm<J0>())
        node<J0>().template forward_then<typename layer_t<J0 + 1>::fn>(src[S]...,
                                                                       out_ptr<J0 + 1>(y), n);
      else if constexpr (layer_arity<L>() == 1) node<J0>().forward(src[S]..., out, n);
      else node<J0>().forward(std::array<const T*, sizeof...(S)>{src[S]...}, out, n);
    }(sources_t<J0>{});
  }
  template <std::size_t O0>
  void add_output_grad(const std::array<const T*, O>& dy, std::size_t n) {
    constexpr std::size_t j = outputs[O0];
    T* g = grad[j].data();
    const std::size_t len = n * layer_t<j>::output_shape::size;
    if constexpr (sole_output<j>()) {
      if (dy[O0]) gin[j] = dy[O0];  // nothing adds into it: read the caller's dy in place
      else parallel_fill(g, len, T(0));
      return;
    }
    if (!dy[O0]) return;
    const T* d = dy[O0];
    for (std::size_t i = 0; i < len; ++i) g[i] += d[i];
  }
  template <std::size_t S0>
  T* grad_of(const std::array<T*, K>& dx) {
    if constexpr (S0 < K) return dx[S0];
    else return grad[S0 - K].data();
  }
  template <std::size_t... S>
  static constexpr bool all_overwritten(std::index_sequence<S...>) {
    return (overwritten<S>() && ...);
  }
  template <std::size_t J0>
  void backward_node(const std::array<T*, K>& dx, std::size_t n) {
    using L = layer_t<J0>;
    // Decided here, outside the lambda: clang (14 and 19) took the overwrite branch for
    // nodes whose fold over the lambda's own pack was false.
    constexpr bool overwrite = layer_arity<L>() == 1 && all_overwritten(sources_t<J0>{});
    if constexpr (norm_fused_away<J0>()) return;  // done in node J0 − 1's backward_then
#ifdef ZOO_PROFILE
    profile::Scope timed(&node<J0>(), names::names[K + J0], layer_ops::type_name(node<J0>()).c_str(),
                         !requires(L& l) { l.each([](auto&) {}); }, true);
#endif
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      if constexpr (fuses_norm<J0>())
        node<J0>().template backward_then<typename layer_t<J0 + 1>::fn, overwrite>(
            src[S]..., gin[J0 + 1], grad_of<S>(dx)..., n);
      else if constexpr (overwrite)
        node<J0>().backward_overwrite(src[S]..., src[K + J0], gin[J0], grad_of<S>(dx)...,
                                      n);
      else if constexpr (layer_arity<L>() == 1)
        node<J0>().backward(src[S]..., src[K + J0], gin[J0], grad_of<S>(dx)..., n);
      else
        node<J0>().backward(std::array<const T*, sizeof...(S)>{src[S]...}, src[K + J0],
                            gin[J0], std::array<T*, sizeof...(S)>{grad_of<S>(dx)...}, n);
    }(sources_t<J0>{});
  }
};
}  // namespace detail

template <class... Items>
struct Graph {
  static constexpr std::size_t arity = [] {
    using parsed = detail::graph_parse<void, type_list<>, void, Items...>;
    if constexpr (std::is_void_v<typename parsed::inputs>) return std::size_t{1};
    else return detail::graph_names<typename parsed::inputs, type_list<>>::K;
  }();
  template <class T, class... Ins>
  using bind = detail::GraphLayer<T, type_list<Ins...>, Items...>;
};

}  // namespace zoo

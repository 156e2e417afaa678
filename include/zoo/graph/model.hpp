// zoo/graph/model.hpp — a network type made real: parameters, gradients, buffers.
//
//   zoo::Model<Spec, zoo::Shape<784>> m(seed);     // float; BasicModel<double, ...> for checks
//   const auto& y = m.forward(x);                  // x: Tensor (N, 784); y: (N, out)
//   m.zero_grad(); m.backward(dy);                 // parameter gradients accumulate (+=)
//
// Storage (one allocation each, fixed at construction):
//   params  [θ0 | θ1 | …]   grads [∂θ0 | ∂θ1 | …]   buffers [running stats …]
// Activations and their gradients are sized on the first batch of a given size
// and reused after that, so a steady-state training step allocates nothing.
// Inputs are copied into the model, so callers may reuse their tensors at once.
#pragma once
#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../core/layer.hpp"
#include "../core/parallel.hpp"
#include "../core/param.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "graph.hpp"

namespace zoo {

namespace detail {
template <class N, std::size_t O, bool Multi>
struct model_output {
  using type = typename N::output_shape;
};
template <class N, std::size_t O>
struct model_output<N, O, true> {
  using type = typename N::template output_shape_at<O>;
};

// What Model and InferenceModel (graph/inference.hpp) share. `who` names the caller in
// errors ("zoo::Model::forward").

// A model's pass over its own tensors (zoo::Tensor, or cuda::Tensor on the device): one input
// and output through layer_ops, several through the graph's array entry points.
template <bool Multi, class Net, class In, class Out, class T>
void run_forward(Net& net, In& inputs, Out& outputs, std::size_t n, T* ws) {
  if constexpr (Multi) {
    std::array<const T*, std::tuple_size_v<In>> xs{};
    for (std::size_t k = 0; k < xs.size(); ++k) xs[k] = inputs[k].data();
    std::array<T*, std::tuple_size_v<Out>> ys{};
    for (std::size_t o = 0; o < ys.size(); ++o) ys[o] = outputs[o].data();
    net.forward_all_ws(xs, ys, n, ws);
  } else {
    layer_ops::forward_ws(net, inputs[0].data(), outputs[0].data(), n, ws);
  }
}
// Each given gradient checked against its output's size; null where an output has none.
template <class T, class TensorT, std::size_t O, class Out>
std::array<const T*, O> output_grads(const char* who, const std::array<const TensorT*, O>& dy,
                                     const Out& outputs) {
  std::array<const T*, O> d{};
  for (std::size_t o = 0; o < O; ++o) {
    if (!dy[o]) continue;
    if (dy[o]->size() != outputs[o].size())
      throw std::invalid_argument(std::string(who) + ": gradient " + std::to_string(o) +
                                  " has shape " + dy[o]->shape_str() + ", the output is " +
                                  outputs[o].shape_str());
    d[o] = dy[o]->data();
  }
  return d;
}
template <bool Multi, class Net, class In, class Out, class T, std::size_t O, std::size_t K>
void run_backward(Net& net, const std::array<const T*, O>& dy, const std::array<T*, K>& dx,
                  In& inputs, Out& outputs, std::size_t n, T* ws) {
  if constexpr (Multi) {
    net.backward_all_ws(dy, dx, n, ws);
  } else {
    if (!dy[0]) return;
    layer_ops::backward_ws(net, inputs[0].data(), outputs[0].data(), dy[0], dx[0], n, ws);
  }
}

// The batch size of one tensor per input, each checked against its per-sample shape.
// TensorT: zoo::Tensor<T>, or cuda::Tensor<T> for a device model.
template <class TensorT, class... Ins, class... X>
std::size_t check_model_inputs(const char* who, const X&... x) {
  constexpr std::size_t K = sizeof...(Ins);
  std::array<const TensorT*, K> xs{&x...};
  static constexpr std::array<std::size_t, K> sizes{Ins::size...};
  static const std::array<std::string, K> names{Ins::str()...};
  const std::size_t n = xs[0]->batch();
  for (std::size_t k = 0; k < K; ++k) {
    if (xs[k]->rank() < 1 || xs[k]->batch() == 0)
      throw std::invalid_argument(std::string(who) + ": input " + std::to_string(k) + " is empty");
    if (xs[k]->sample_size() != sizes[k])
      throw std::invalid_argument(std::string(who) + ": input " + std::to_string(k) +
                                  " has shape " + xs[k]->shape_str() +
                                  ", but the model expects (N, " + names[k].substr(1));
    if (xs[k]->batch() != n)
      throw std::invalid_argument(std::string(who) + ": inputs have different batch sizes (" +
                                  std::to_string(n) + " and " + std::to_string(xs[k]->batch()) +
                                  ")");
  }
  return n;
}

// forward_node's input: (N, In) with N > 0.
template <class In, class T>
void check_node_input(const char* who, std::string_view node, const Tensor<T>& in) {
  if (in.sample_size() != In::size || in.batch() == 0)
    throw std::invalid_argument(std::string(who) + "<\"" + std::string(node) +
                                "\">: input has shape " + in.shape_str() +
                                ", the node expects (N, " + In::str().substr(1));
}

// The layer table of summary(): one row per layer, then the totals.
template <class Net>
std::string summary_table(const Net& net, std::size_t num_params, double flops) {
  std::vector<SummaryRow> rows;
  layer_ops::summary(net, std::string{}, rows);
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-12s %-16s %12s %14s\n", "layer", "type", "output",
                "params", "MFLOPs");
  s += line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-28s %-12s %-16s %12zu %14.3f\n", r.name.c_str(),
                  r.type.c_str(), r.output_shape.c_str(), r.params, r.flops * 1e-6);
    s += line;
  }
  std::snprintf(line, sizeof line, "total: %zu parameters, %.3f MFLOPs per sample (forward)\n",
                num_params, flops * 1e-6);
  return s + line;
}

// named_parameters(), named_buffers() and state_dict() of a model M with visit_parameters
// and visit_buffers (a base of Model and InferenceModel).
template <class M, class T>
struct NamedState {
  std::vector<NamedTensor<T>> named_parameters() {
    std::vector<NamedTensor<T>> out;
    self().visit_parameters([&](const std::string& name, std::vector<std::size_t> shape, T* d,
                                T* g, std::size_t n) {
      out.push_back({name, std::move(shape), d, g, n});
    });
    return out;
  }
  std::vector<NamedTensor<T>> named_buffers() {
    std::vector<NamedTensor<T>> out;
    self().visit_buffers([&](const std::string& name, std::vector<std::size_t> shape, T* d,
                             std::size_t n) { out.push_back({name, std::move(shape), d, nullptr, n}); });
    return out;
  }
  // Parameters then buffers: the keys of PyTorch's state_dict().
  std::vector<NamedTensor<T>> state_dict() {
    auto out = named_parameters();
    for (auto& b : named_buffers()) out.push_back(std::move(b));
    return out;
  }

 private:
  M& self() { return static_cast<M&>(*this); }
};
}  // namespace detail

template <class T, class Spec, class... Ins>
class BasicModel : public detail::NamedState<BasicModel<T, Spec, Ins...>, T> {
  static_assert(sizeof...(Ins) >= 1,
                "zoo::Model<Spec, Shape...>: give the per-sample shape of every input after the "
                "network spec, e.g. zoo::Model<Net, zoo::Shape<784>>");
  static_assert((is_shape_v<Ins> && ...),
                "zoo::Model<Spec, Shape...>: the arguments after the spec must be zoo::Shape<...>");

 public:
  using scalar = T;
  // What forward takes and returns: trainers written once over the model type
  // (models/*_training.hpp) keep their batches and gradients in it.
  using tensor_type = Tensor<T>;
  // Non-shape arguments were reported above; Shape<1> stands in so nothing cascades.
  using net_type = bind_t<Spec, T, std::conditional_t<is_shape_v<Ins>, Ins, Shape<1>>...>;
  static constexpr std::size_t num_inputs = sizeof...(Ins);
  static constexpr bool multi_io = requires(const net_type& n) { n.output_ptr(0); };
  static constexpr std::size_t num_outputs = [] {
    if constexpr (multi_io) return net_type::O;
    else return std::size_t{1};
  }();
  using input_shapes = type_list<Ins...>;
  template <std::size_t O0>
  using output_shape_at = typename detail::model_output<net_type, O0, multi_io>::type;
  using output_shape = output_shape_at<0>;
  static constexpr std::size_t num_params = num_params_of<net_type>();
  static constexpr std::size_t num_buffers = num_buffers_of<net_type>();
  static constexpr double flops = flops_of<net_type>();  // forward, per sample
  // Activation memory per sample, in bytes, both compile-time facts: what training needs
  // (the values some backward reads, the layers' backward caches, the planned working memory
  // of forward and backward, the model's inputs, outputs and input gradients), and the
  // planned arena of an inference forward plus its outputs (graph/inference.hpp).
  static constexpr std::size_t io_values = [] {
    std::size_t v = (Ins::size + ... + 0);
    [&]<std::size_t... O>(std::index_sequence<O...>) {
      ((v += output_shape_at<O>::size), ...);
    }(std::make_index_sequence<num_outputs>{});
    return v;
  }();
  static constexpr std::size_t train_bytes_per_sample =
      (train_values_of<net_type>() + train_scratch_of<net_type>() + 2 * io_values) * sizeof(T);
  static constexpr std::size_t infer_bytes_per_sample =
      (infer_scratch_of<net_type>() + io_values - (Ins::size + ... + 0)) * sizeof(T);

  explicit BasicModel(std::uint64_t seed = 0)
      : params_(num_params), grads_(num_params), buffers_(num_buffers) {
    T* p = params_.data();
    T* g = grads_.data();
    T* b = buffers_.data();
    layer_ops::bind_params(net_, p, g);
    layer_ops::bind_buffers(net_, b);
    std::vector<std::string> names;
    visit_parameters([&](const std::string& name, const std::vector<std::size_t>& shape, T* d, T*,
                         std::size_t count) {
      names.push_back(name);
      const std::size_t rows = shape.empty() || shape[0] == 0 ? 1 : shape[0];
      blocks_->push_back({static_cast<std::size_t>(d - params_.data()), rows, count / rows});
    });
    visit_buffers([&](const std::string& name, auto&&...) { names.push_back(name); });
    // Node names are unique within each Graph, but a "_…" node lends its children's names to
    // its parent, so two such children could clash; a clash would make checkpoints ambiguous.
    std::sort(names.begin(), names.end());
    if (auto it = std::adjacent_find(names.begin(), names.end()); it != names.end())
      throw std::invalid_argument("zoo::Model: two tensors share the name '" + *it +
                                  "' (two nodes named \"_...\" hold children of the same name)");
    // The row split is used only if the tensors tile the span exactly, in order;
    // otherwise optimizers keep parallel_for's contiguous halves.
    std::size_t end = 0;
    for (const ParamBlock& b : *blocks_) {
      if (b.offset != end) break;
      end += b.rows * b.cols;
    }
    if (end != num_params) blocks_->clear();
    reset_parameters(seed);
  }
  BasicModel(const BasicModel&) = delete;
  BasicModel& operator=(const BasicModel&) = delete;
  BasicModel(BasicModel&&) = default;  // every view points into heap storage, which moves intact

  // PyTorch's default initialization, from a seeded stream.
  void reset_parameters(std::uint64_t seed) {
    Rng rng(seed);
    layer_ops::init(net_, rng);
    noise_ = std::make_unique<Rng>(rng.next_u64());
    layer_ops::bind_rng(net_, noise_.get());
    zero_grad();
  }
  // The stream that noise-drawing layers (Reparameterize) use; its state goes
  // into checkpoints so a resumed run draws the same noise.
  Rng& noise_rng() { return *noise_; }

  // ------------------------------------------------------------------ running
  template <class... X>
  const Tensor<T>& forward(const X&... x) {
    static_assert(sizeof...(X) == num_inputs,
                  "zoo::Model::forward: pass one tensor per model input");
    static_assert((std::is_same_v<X, Tensor<T>> && ...),
                  "zoo::Model::forward: inputs must be zoo::Tensor of the model's scalar type");
    const std::size_t n = check_inputs(x...);
    prepare(n);
    copy_inputs(std::index_sequence_for<X...>{}, x...);
    detail::run_forward<multi_io>(net_, inputs_, outputs_, n, ws_.data());
    forwarded_ = true;
    return outputs_[0];
  }
  const Tensor<T>& output(std::size_t o = 0) const { return outputs_.at(o); }

  // Gradients of the loss with respect to each output, in order.
  template <class... D>
  void backward(const D&... dy) {
    static_assert(sizeof...(D) == num_outputs,
                  "zoo::Model::backward: pass one gradient tensor per model output");
    std::array<const Tensor<T>*, num_outputs> d{&dy...};
    backward_ptrs(d);
  }
  // As backward(); a null entry means that output does not reach the loss.
  void backward_ptrs(const std::array<const Tensor<T>*, num_outputs>& dy) {
    if (!forwarded_)
      throw std::logic_error("zoo::Model::backward: call forward() first");
    const auto d = detail::output_grads<T>("zoo::Model::backward", dy, outputs_);
    std::array<T*, num_inputs> dx{};
    if (input_grad_) {
      for (std::size_t k = 0; k < num_inputs; ++k) {
        input_grads_[k].fill(T(0));
        dx[k] = input_grads_[k].data();
      }
    }
    detail::run_backward<multi_io>(net_, d, dx, inputs_, outputs_, n_, ws_.data());
  }
  // Whether backward() also computes the gradient of the inputs (a GAN's
  // discriminator passes it to the generator). Off by default: it costs a GEMM.
  void requires_input_grad(bool on) { input_grad_ = on; }
  const Tensor<T>& input_grad(std::size_t k = 0) const {
    if (!input_grad_)
      throw std::logic_error("zoo::Model::input_grad: enable requires_input_grad(true) first");
    return input_grads_.at(k);
  }

  // A memset of every gradient: on two threads when there is enough (the G of the MLP GAN
  // has 2 M parameters, 8 MB; one core's stores do not saturate the memory), each thread
  // clearing the rows of each tensor that its share of the dW GEMM and the optimizer touch.
  void zero_grad() {
    T* g = grads_.data();
    for_param_rows(parameters(), 2, [g](std::size_t lo, std::size_t hi) {
      std::fill(g + lo, g + hi, T(0));
    });
  }
  void train(bool on = true) {
    training_ = on;
    layer_ops::set_training(net_, on);
  }
  void eval() { train(false); }
  bool training() const { return training_; }
  // A frozen model computes no parameter gradients, but still passes
  // gradients through to its inputs (the D of a GAN while G trains).
  void freeze(bool on = true) {
    frozen_ = on;
    layer_ops::set_frozen(net_, on);
  }
  void unfreeze() { freeze(false); }
  bool frozen() const { return frozen_; }

  // ------------------------------------------------------------------ parameters
  ParamSpan<T> parameters() {
    return {params_.data(), grads_.data(), params_.size(),
            blocks_->empty() ? nullptr : blocks_.get()};
  }
  T* buffer_data() { return buffers_.data(); }
  std::size_t buffer_size() const { return buffers_.size(); }

  template <class F>  // f(name, shape, data, grad, count)
  void visit_parameters(F&& f) {
    layer_ops::visit_params(net_, std::string{}, f);
  }
  template <class F>  // f(name, shape, data, count)
  void visit_buffers(F&& f) {
    layer_ops::visit_buffers(net_, std::string{}, f);
  }
  // Runs one single-input node of a Graph alone (a VAE's decoder on prior
  // samples, an autoencoder's decoder on a chosen code). The model's buffers
  // are re-sized on the next forward(), so this never corrupts a training pass.
  template <fixed_string Name>
  void forward_node(const Tensor<T>& in, Tensor<T>& out) {
    auto& node = net_.template get<Name>();
    using L = std::remove_reference_t<decltype(node)>;
    static_assert(layer_arity<L>() == 1, "zoo::Model::forward_node: the node must read one input");
    detail::check_node_input<typename L::input_shape>("zoo::Model::forward_node", Name.view(), in);
    const std::size_t n = in.batch();
    out.template resize_batch<typename L::output_shape>(n);
    layer_ops::resize(node, n);
    node.forward(in.data(), out.data(), n);
    n_ = 0;
    forwarded_ = false;
  }

  net_type& net() { return net_; }
  const net_type& net() const { return net_; }
  template <fixed_string Name>
  auto& get() {
    return net_.template get<Name>();
  }

  // A table of layers with output shapes, parameter counts and FLOPs, and the planned
  // activation memory.
  std::string summary() const {
    char line[160];
    std::snprintf(line, sizeof line,
                  "activation memory per sample: %.1f KB training, %.1f KB planned inference "
                  "(zoo::InferenceModel)\n",
                  train_bytes_per_sample / 1024.0, infer_bytes_per_sample / 1024.0);
    return detail::summary_table(net_, num_params, flops) + line;
  }

  std::size_t batch_size() const { return n_; }
  // Bytes of the working memory of forward and backward as allocated now:
  // train_scratch_of<net_type>() · N · sizeof(T) (core/plan.hpp).
  std::size_t workspace_bytes() const { return ws_.size() * sizeof(T); }

 private:
  template <class... X>
  static std::size_t check_inputs(const X&... x) {
    return detail::check_model_inputs<Tensor<T>, Ins...>("zoo::Model::forward", x...);
  }
  template <std::size_t... K, class... X>
  void copy_inputs(std::index_sequence<K...>, const X&... x) {
    ((std::copy(x.begin(), x.end(), inputs_[K].begin())), ...);
  }
  void prepare(std::size_t n) {
    if (n == n_) return;
    n_ = n;
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (inputs_[K].template resize_batch<Ins>(n), ...);
      (input_grads_[K].template resize_batch<Ins>(n), ...);
    }(std::index_sequence_for<Ins...>{});
    [&]<std::size_t... O>(std::index_sequence<O...>) {
      (outputs_[O].template resize_batch<output_shape_at<O>>(n), ...);
    }(std::make_index_sequence<num_outputs>{});
    layer_ops::resize_nested(net_, n);
    // Exactly the planned size (a vector grown by resize may keep up to twice that).
    const std::size_t ws = train_scratch_of<net_type>() * n;
    if (ws > ws_.capacity()) Buffer<T>().swap(ws_);
    ws_.resize(ws);
  }

  net_type net_;
  Buffer<T> params_, grads_, buffers_;
  // Heap, so the spans optimizers hold stay valid when the model moves.
  std::unique_ptr<std::vector<ParamBlock>> blocks_ = std::make_unique<std::vector<ParamBlock>>();
  std::unique_ptr<Rng> noise_;  // heap: layers hold its address across moves
  // Working memory of forward and backward: the values no backward reads, then the
  // gradients (core/plan.hpp); what backward reads stays in the containers.
  Buffer<T> ws_;
  std::array<Tensor<T>, num_inputs> inputs_, input_grads_;
  std::array<Tensor<T>, num_outputs> outputs_;
  std::size_t n_ = 0;
  bool forwarded_ = false;
  bool training_ = true;
  bool frozen_ = false;
  bool input_grad_ = false;
};

template <class Spec, class... Ins>
using Model = BasicModel<float, Spec, Ins...>;

// Host data where model M reads it, for loops written once over the model type: a CPU
// model reads the host tensor itself; a device model (zoo::cuda::Model) a copy kept here
// from call to call, so a steady state allocates nothing. `back` is the other way: a
// model's output as a host tensor (itself, or a copy).
template <class M>
class Staged {
 public:
  using tensor = typename M::tensor_type;
  using host_tensor = Tensor<typename M::scalar>;
  static constexpr bool on_host = std::is_same_v<tensor, host_tensor>;

  const tensor& operator()(const host_tensor& h) {
    if constexpr (on_host) {
      return h;
    } else {
      dev_.upload(h);
      return dev_;
    }
  }
  const host_tensor& back(const tensor& t) {
    if constexpr (on_host) {
      return t;
    } else {
      t.download(host_);
      return host_;
    }
  }

 private:
  tensor dev_;
  host_tensor host_;
};

}  // namespace zoo

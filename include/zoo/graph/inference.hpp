// zoo/graph/inference.hpp — a network type for inference only: no gradients, no backward
// caches, and every intermediate value in one arena planned at compile time.
//
//   zoo::InferenceModel<Spec, zoo::Shape<...>...> g(trained);   // shares trained's weights
//   zoo::InferenceModel<Spec, zoo::Shape<...>...> h;            // owns them: load a checkpoint
//   const auto& y = g.forward(x);                                 // eval mode, always
//
// The arena holds plan_values_per_sample · N values (core/plan.hpp: a value lives from the
// node that writes it to its last reader; values with disjoint lives share memory;
// element-wise layers run in place where their input dies). A training Model keeps every
// activation and gradient instead. The two run the same kernels in the same order, so
// their outputs are equal bit for bit (tests/test_memory_plan.cpp). Parameter and buffer
// names are the Model's, so the same checkpoints load.
#pragma once
#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/layer.hpp"
#include "../core/plan.hpp"
#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "model.hpp"

#define ZOO_HAS_INFERENCE_MODEL 1

namespace zoo {

template <class T, class Spec, class... Ins>
class BasicInferenceModel : public detail::NamedState<BasicInferenceModel<T, Spec, Ins...>, T> {
  using trained_type = BasicModel<T, Spec, Ins...>;

 public:
  using scalar = T;
  using tensor_type = Tensor<T>;  // as zoo::Model's
  using net_type = typename trained_type::net_type;
  static constexpr std::size_t num_inputs = trained_type::num_inputs;
  static constexpr bool multi_io = trained_type::multi_io;
  static constexpr std::size_t num_outputs = trained_type::num_outputs;
  using input_shapes = type_list<Ins...>;
  template <std::size_t O0>
  using output_shape_at = typename trained_type::template output_shape_at<O0>;
  using output_shape = output_shape_at<0>;
  static constexpr std::size_t num_params = trained_type::num_params;
  static constexpr std::size_t num_buffers = trained_type::num_buffers;
  static constexpr double flops = trained_type::flops;

  // Values of T per sample: the planned arena, and the outputs the model hands back.
  static constexpr std::size_t plan_values_per_sample = infer_scratch_of<net_type>();
  static constexpr std::size_t output_values_per_sample = [] {
    std::size_t v = 0;
    [&]<std::size_t... O>(std::index_sequence<O...>) {
      ((v += output_shape_at<O>::size), ...);
    }(std::make_index_sequence<num_outputs>{});
    return v;
  }();
  // The activation memory of a forward of one sample, in bytes: a compile-time fact.
  static constexpr std::size_t bytes_per_sample =
      (plan_values_per_sample + output_values_per_sample) * sizeof(T);
  static_assert(bytes_per_sample == trained_type::infer_bytes_per_sample);

  // Its own parameters and buffers, initialised as the Model's with the same seed.
  explicit BasicInferenceModel(std::uint64_t seed = 0)
      : own_params_(num_params), own_buffers_(num_buffers) {
    bind(own_params_.data(), own_buffers_.data());
    Rng rng(seed);
    layer_ops::init(net_, rng);
    noise_ = std::make_unique<Rng>(rng.next_u64());
    layer_ops::bind_rng(net_, noise_.get());
  }
  // The weights and running statistics of `trained`, shared, not copied: later training
  // steps show in the next forward. `trained` must outlive this model.
  explicit BasicInferenceModel(trained_type& trained) {
    bind(trained.parameters().data, trained.buffer_data());
    noise_ = std::make_unique<Rng>(trained.noise_rng());
    layer_ops::bind_rng(net_, noise_.get());
  }
  BasicInferenceModel(const BasicInferenceModel&) = delete;
  BasicInferenceModel& operator=(const BasicInferenceModel&) = delete;
  BasicInferenceModel(BasicInferenceModel&&) = default;

  // ------------------------------------------------------------------ running
  template <class... X>
  const Tensor<T>& forward(const X&... x) {
    static_assert(sizeof...(X) == num_inputs,
                  "zoo::InferenceModel::forward: pass one tensor per model input");
    static_assert((std::is_same_v<X, Tensor<T>> && ...),
                  "zoo::InferenceModel::forward: inputs must be zoo::Tensor of the model's scalar "
                  "type");
    const std::size_t n = check_inputs(x...);
    prepare(n);
    std::array<const T*, num_inputs> xs{x.data()...};
    if constexpr (multi_io) {
      std::array<T*, num_outputs> ys{};
      for (std::size_t o = 0; o < num_outputs; ++o) ys[o] = outputs_[o].data();
      net_.forward_all_infer(xs, ys, n, arena_.data());
    } else {
      layer_ops::forward_infer(net_, xs[0], outputs_[0].data(), n, arena_.data());
    }
    return outputs_[0];
  }
  const Tensor<T>& output(std::size_t o = 0) const { return outputs_.at(o); }

  // Runs one single-input node of a Graph alone (a VAE's decoder on prior samples), in
  // that node's own plan.
  template <fixed_string Name>
  void forward_node(const Tensor<T>& in, Tensor<T>& out) {
    auto& node = net_.template get<Name>();
    using L = std::remove_reference_t<decltype(node)>;
    static_assert(layer_arity<L>() == 1,
                  "zoo::InferenceModel::forward_node: the node must read one input");
    detail::check_node_input<typename L::input_shape>("zoo::InferenceModel::forward_node",
                                                      Name.view(), in);
    const std::size_t n = in.batch();
    out.template resize_batch<typename L::output_shape>(n);
    layer_ops::reserve_infer(node, n);
    size_arena(infer_scratch_of<L>() * n);
    layer_ops::forward_infer(node, in.data(), out.data(), n, arena_.data());
    n_ = 0;  // the next forward() sizes everything for itself again
  }

  // Sampling code written for a Model calls these; an inference model is always in eval.
  void eval() {}
  void train(bool on = true) {
    if (on)
      throw std::logic_error("zoo::InferenceModel::train: an inference model cannot train; use "
                             "zoo::Model");
  }
  bool training() const { return false; }

  // ------------------------------------------------------------------ parameters
  template <class F>  // f(name, shape, data, grad, count); grad is null: there are none
  void visit_parameters(F&& f) {
    layer_ops::visit_params(net_, std::string{},
                            [&](const std::string& name, const std::vector<std::size_t>& shape,
                                T* d, T*, std::size_t count) { f(name, shape, d, nullptr, count); });
  }
  template <class F>  // f(name, shape, data, count)
  void visit_buffers(F&& f) {
    layer_ops::visit_buffers(net_, std::string{}, f);
  }
  Rng& noise_rng() { return *noise_; }

  net_type& net() { return net_; }
  template <fixed_string Name>
  auto& get() {
    return net_.template get<Name>();
  }
  std::size_t batch_size() const { return n_; }
  // Bytes of the planned arena as allocated now: plan_values_per_sample · N · sizeof(T).
  std::size_t arena_bytes() const { return arena_.size() * sizeof(T); }

  std::string summary() const {
    char line[128];
    std::snprintf(line, sizeof line,
                  "%.1f KB activation memory per sample (planned inference)\n",
                  bytes_per_sample / 1024.0);
    return detail::summary_table(net_, num_params, flops) + line;
  }

 private:
  void bind(T* params, T* buffers) {
    // Gradient views alias the parameters: nothing here ever runs backward or zero_grad,
    // so no layer writes them, and no gradient memory exists.
    T* p = params;
    T* g = params;
    T* b = buffers;
    layer_ops::bind_params(net_, p, g);
    layer_ops::bind_buffers(net_, b);
    layer_ops::set_training(net_, false);
  }
  template <class... X>
  static std::size_t check_inputs(const X&... x) {
    return detail::check_model_inputs<Tensor<T>, Ins...>("zoo::InferenceModel::forward", x...);
  }
  // Exactly the size asked for (a vector grown by resize may keep up to twice that).
  void size_arena(std::size_t values) {
    if (values > arena_.capacity()) Buffer<T>().swap(arena_);
    arena_.resize(values);
  }
  void prepare(std::size_t n) {
    if (n == n_) return;
    n_ = n;
    [&]<std::size_t... O>(std::index_sequence<O...>) {
      (outputs_[O].template resize_batch<output_shape_at<O>>(n), ...);
    }(std::make_index_sequence<num_outputs>{});
    layer_ops::reserve_infer(net_, n);
    size_arena(plan_values_per_sample * n);
  }

  net_type net_;
  Buffer<T> own_params_, own_buffers_;  // empty when the weights are a trained model's
  std::unique_ptr<Rng> noise_;
  Buffer<T> arena_;
  std::array<Tensor<T>, num_outputs> outputs_;
  std::size_t n_ = 0;
};

template <class Spec, class... Ins>
using InferenceModel = BasicInferenceModel<float, Spec, Ins...>;

// The inference twin of a Model type: zoo::inference_model_t<zoo::Model<Net, Shape<784>>>.
template <class M>
struct inference_model;
template <class T, class Spec, class... Ins>
struct inference_model<BasicModel<T, Spec, Ins...>> {
  using type = BasicInferenceModel<T, Spec, Ins...>;
};
template <class M>
using inference_model_t = typename inference_model<M>::type;

// Whether M is a training Model (it then has an inference twin).
template <class M>
inline constexpr bool has_inference_model_v = requires { typename inference_model<M>::type; };
template <class M>
inline constexpr bool is_inference_model_v = false;
template <class T, class Spec, class... Ins>
inline constexpr bool is_inference_model_v<BasicInferenceModel<T, Spec, Ins...>> = true;

}  // namespace zoo

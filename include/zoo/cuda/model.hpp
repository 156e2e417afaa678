// zoo/cuda/model.hpp — a network type made real on the device.
//
//   zoo::cuda::Model<Spec, zoo::Shape<784>> m(seed);   // the same Spec as zoo::Model's
//   cuda::Tensor<float> x(host_batch);                  // host → device, explicitly
//   const auto& y = m.forward(x);                       // device tensors in and out
//   m.zero_grad(); m.backward(dy);  opt.step();          // cuda::Adam over m.parameters()
//
// The network is bound with cuda::device<T> (core/backend.hpp): the containers and the
// memory plan are the CPU model's, each leaf is its cuda::layer. Parameters, gradients,
// buffers and the planned working memory are device buffers allocated once per batch
// size, as zoo::Model's host buffers: a steady-state step allocates nothing.
//
// Initialisation, names and checkpoints go through the host: the model keeps a CPU model
// of the same type as its mirror (`host()`), initialised from the seed exactly as
// zoo::Model is, and copies its parameters and buffers to the device. `to_host()` brings
// the device's values back into the mirror (before state_dict / saving a checkpoint);
// `to_device()` sends the mirror's to the device (after loading one). The mirror costs
// the host memory of the parameters, their gradients and buffers — not of activations.
#pragma once
#include <array>
#include <memory>
#include <stdexcept>
#include <string>

#include "../graph/model.hpp"
#include "layers.hpp"
#include "tensor.hpp"

namespace zoo::cuda {

template <class T, class Spec, class... Ins>
class BasicModel {
 public:
  using scalar = T;
  using tensor_type = Tensor<T>;  // device tensors in and out
  using host_model = zoo::BasicModel<T, Spec, Ins...>;
  using input_shapes = typename host_model::input_shapes;
  using net_type = bind_t<Spec, device<T>, std::conditional_t<is_shape_v<Ins>, Ins, Shape<1>>...>;
  static constexpr std::size_t num_inputs = sizeof...(Ins);
  static constexpr bool multi_io = requires(const net_type& n) { n.output_ptr(0); };
  static constexpr std::size_t num_outputs = host_model::num_outputs;
  template <std::size_t O0>
  using output_shape_at = typename host_model::template output_shape_at<O0>;
  using output_shape = output_shape_at<0>;
  static constexpr std::size_t num_params = host_model::num_params;
  static constexpr std::size_t num_buffers = host_model::num_buffers;
  static_assert(num_params_of<net_type>() == num_params && num_buffers_of<net_type>() == num_buffers,
                "zoo::cuda: a device layer's parameter count differs from its CPU layer's");

  // `name` labels device allocation errors ("zoo::cuda::Model 'dcgan.G': …").
  explicit BasicModel(std::uint64_t seed = 0, std::string name = "model")
      : host_(seed), name_(std::move(name)) {
    alloc(params_, num_params, "parameters");
    alloc(grads_, num_params, "gradients");
    alloc(buffers_, num_buffers, "buffers");
    T* p = params_.data();
    T* g = grads_.data();
    T* b = buffers_.data();
    layer_ops::bind_params(net_, p, g);
    layer_ops::bind_buffers(net_, b);
    // Noise-drawing layers (Reparameterize) draw from the mirror's stream, as its own
    // layers would: a device model and a CPU model with one seed sample the same noise.
    layer_ops::bind_rng(net_, &host_.noise_rng());
    to_device();
    zero_grad();
  }
  BasicModel(const BasicModel&) = delete;
  BasicModel& operator=(const BasicModel&) = delete;

  // The CPU mirror: names, state_dict, summary, checkpoints (after to_host()).
  host_model& host() { return host_; }
  const host_model& host() const { return host_; }
  void to_device() {
    copy_to_device(host_.parameters().data, num_params, params_.data());
    copy_to_device(host_.buffer_data(), num_buffers, buffers_.data());
  }
  void to_host() {
    copy_to_host(params_.data(), num_params, host_.parameters().data);
    copy_to_host(buffers_.data(), num_buffers, host_.buffer_data());
  }
  // PyTorch's default initialisation from a seed: the CPU model's, copied over.
  void reset_parameters(std::uint64_t seed) {
    host_.reset_parameters(seed);
    layer_ops::bind_rng(net_, &host_.noise_rng());
    to_device();
    zero_grad();
  }

  template <class... X>
  const Tensor<T>& forward(const X&... x) {
    static_assert(sizeof...(X) == num_inputs,
                  "zoo::cuda::Model::forward: pass one tensor per model input");
    static_assert((std::is_same_v<X, Tensor<T>> && ...),
                  "zoo::cuda::Model::forward: inputs must be zoo::cuda::Tensor (device tensors) of "
                  "the model's scalar type; upload host tensors with cuda::Tensor(host)");
    const std::size_t n =
        zoo::detail::check_model_inputs<Tensor<T>, Ins...>("zoo::cuda::Model::forward", x...);
    prepare(n);
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (cuda::copy(x.data(), x.size(), inputs_[K].data()), ...);
    }(std::index_sequence_for<X...>{});
    zoo::detail::run_forward<multi_io>(net_, inputs_, outputs_, n, ws_.data());
    forwarded_ = true;
    return outputs_[0];
  }
  const Tensor<T>& output(std::size_t o = 0) const { return outputs_.at(o); }

  template <class... D>
  void backward(const D&... dy) {
    static_assert(sizeof...(D) == num_outputs,
                  "zoo::cuda::Model::backward: pass one gradient tensor per model output");
    std::array<const Tensor<T>*, num_outputs> d{&dy...};
    backward_ptrs(d);
  }
  void backward_ptrs(const std::array<const Tensor<T>*, num_outputs>& dy) {
    if (!forwarded_) throw std::logic_error("zoo::cuda::Model::backward: call forward() first");
    const auto d = zoo::detail::output_grads<T>("zoo::cuda::Model::backward", dy, outputs_);
    std::array<T*, num_inputs> dx{};
    if (input_grad_)
      for (std::size_t k = 0; k < num_inputs; ++k) {
        cuda::fill(input_grads_[k].data(), input_grads_[k].size(), T(0));
        dx[k] = input_grads_[k].data();
      }
    zoo::detail::run_backward<multi_io>(net_, d, dx, inputs_, outputs_, n_, ws_.data());
  }
  void requires_input_grad(bool on) { input_grad_ = on; }
  const Tensor<T>& input_grad(std::size_t k = 0) const {
    if (!input_grad_)
      throw std::logic_error("zoo::cuda::Model::input_grad: enable requires_input_grad(true) first");
    return input_grads_.at(k);
  }

  void zero_grad() { cuda::fill(grads_.data(), grads_.size(), T(0)); }
  void train(bool on = true) {
    training_ = on;
    host_.train(on);
    layer_ops::set_training(net_, on);
  }
  void eval() { train(false); }
  bool training() const { return training_; }
  void freeze(bool on = true) {
    frozen_ = on;
    host_.freeze(on);
    layer_ops::set_frozen(net_, on);
  }
  void unfreeze() { freeze(false); }
  bool frozen() const { return frozen_; }

  // Device views: what cuda::Adam / cuda::SGD step over.
  ParamSpan<T> parameters() { return {params_.data(), grads_.data(), num_params, nullptr}; }
  T* buffer_data() { return buffers_.data(); }
  std::size_t buffer_size() const { return num_buffers; }

  net_type& net() { return net_; }
  std::size_t batch_size() const { return n_; }
  std::size_t workspace_bytes() const { return ws_.size() * sizeof(T); }
  const std::string& name() const { return name_; }

 private:
  // Every device allocation goes through here, so a failure names the model and the bytes.
  template <class B>
  void alloc(B& buf, std::size_t count, const char* what) {
    try {
      buf.resize(count);
    } catch (const Error& e) {
      throw Error("zoo::cuda::Model '" + name_ + "': could not allocate " +
                  std::to_string(count * sizeof(T)) + " bytes of device memory for its " + what +
                  " (" + e.what() + ")");
    }
  }
  template <class Tn, class S>
  void alloc_tensor(Tn& t, std::size_t n, const char* what) {
    try {
      t.template resize_batch<S>(n);
    } catch (const Error& e) {
      throw Error("zoo::cuda::Model '" + name_ + "': could not allocate " +
                  std::to_string(n * S::size * sizeof(T)) + " bytes of device memory for its " +
                  what + " (" + e.what() + ")");
    }
  }
  void prepare(std::size_t n) {
    if (n == n_) return;
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (alloc_tensor<Tensor<T>, Ins>(inputs_[K], n, "inputs"), ...);
      (alloc_tensor<Tensor<T>, Ins>(input_grads_[K], n, "input gradients"), ...);
    }(std::index_sequence_for<Ins...>{});
    [&]<std::size_t... O>(std::index_sequence<O...>) {
      (alloc_tensor<Tensor<T>, output_shape_at<O>>(outputs_[O], n, "outputs"), ...);
    }(std::make_index_sequence<num_outputs>{});
    try {
      layer_ops::resize_nested(net_, n);
    } catch (const Error& e) {
      throw Error("zoo::cuda::Model '" + name_ + "': could not set up its layers (saved values, "
                  "workspaces, convolution engines) for a batch "
                  "of " + std::to_string(n) + " (" + e.what() + ")");
    }
    alloc(ws_, train_scratch_of<net_type>() * n, "working memory");
    n_ = n;
  }

  host_model host_;
  std::string name_;
  net_type net_;
  DeviceBuffer<T> params_, grads_, buffers_, ws_;
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

}  // namespace zoo::cuda

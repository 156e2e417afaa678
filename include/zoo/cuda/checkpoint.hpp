// zoo/cuda/checkpoint.hpp — resumable checkpoints of device training (weights, buffers,
// the optimizer's state and step count, the run's TrainState), written and read through
// the host: the model's mirror and a host optimizer of the same kind hold the values
// while zoo::save_checkpoint / zoo::load_checkpoint do the file. The file is the CPU's
// format, so a run checkpointed on a GPU resumes on a CPU and the other way round.
//
//   zoo::cuda::save_checkpoint(path, model, adam, state);   // or unqualified: ADL
//   const zoo::TrainState st = zoo::cuda::load_checkpoint(path, model, adam);
//
// Separate from <zoo/cuda.hpp> because io/ needs zlib's headers, which a GPU machine
// building only the backend's tests need not have.
#pragma once
#include <stdexcept>
#include <string>

#include "../io/safetensors.hpp"
#include "model.hpp"
#include "optim.hpp"

namespace zoo::cuda {

namespace detail {
// The device optimizer must step one span: the model's whole parameter buffer, which the
// mirror's parameters() matches value for value.
template <class T, class H>
void check_one_span(const std::vector<DeviceBuffer<T>>& dev, const std::vector<H>& host,
                    const char* what) {
  if (dev.size() != 1 || host.size() != 1 || dev[0].size() != host[0].size())
    throw std::invalid_argument(
        std::string("zoo::cuda checkpoint: the ") + what + " steps " + std::to_string(dev.size()) +
        " span(s) of " + std::to_string(dev.empty() ? 0 : dev[0].size()) + " values, the model has " +
        std::to_string(host.empty() ? 0 : host[0].size()) +
        " parameters (one span over model.parameters() is what a checkpoint saves)");
}
template <class T, class H>
void state_to_host(const std::vector<DeviceBuffer<T>>& dev, std::vector<H>& host, const char* what) {
  check_one_span(dev, host, what);
  copy_to_host(dev[0].data(), dev[0].size(), host[0].data());
}
template <class T, class H>
void state_to_device(const std::vector<H>& host, std::vector<DeviceBuffer<T>>& dev, const char* what) {
  check_one_span(dev, host, what);
  copy_to_device(host[0].data(), host[0].size(), dev[0].data());
}
// The host twin of a device optimizer: one over the mirror's named tensors where the
// optimizer needs their names (cuda::GroupSGD, cuda/yolo_train.hpp), else over its one span.
template <class Opt, class M>
auto host_twin(Opt& opt, M& m) {
  if constexpr (requires { host_optimizer(opt, m.host()); }) return host_optimizer(opt, m.host());
  else return host_optimizer(opt, m.host().parameters());
}
}  // namespace detail

// A host optimizer over `p` (the mirror's parameters) with d's options, lr, step count
// and state: what the checkpoint writes.
template <class T>
zoo::Adam<T> host_optimizer(Adam<T>& d, ParamSpan<T> p) {
  zoo::Adam<T> h(p, d.opt);
  h.lr = d.lr;
  h.set_steps(d.steps());
  detail::state_to_host(d.exp_avg(), h.exp_avg(), "Adam");
  detail::state_to_host(d.exp_avg_sq(), h.exp_avg_sq(), "Adam");
  return h;
}
template <class T>
zoo::SGD<T> host_optimizer(SGD<T>& d, ParamSpan<T> p) {
  zoo::SGD<T> h(p, d.opt);
  h.lr = d.lr;
  h.set_steps(d.steps());
  detail::state_to_host(d.state(), h.state(), "SGD");
  return h;
}
// The other way: a loaded host optimizer's lr, step count and state into d.
template <class T>
void to_device_optimizer(zoo::Adam<T>& h, Adam<T>& d) {
  detail::state_to_device(h.exp_avg(), d.exp_avg(), "Adam");
  detail::state_to_device(h.exp_avg_sq(), d.exp_avg_sq(), "Adam");
  d.lr = h.lr;
  d.set_steps(h.steps());
}
template <class T>
void to_device_optimizer(zoo::SGD<T>& h, SGD<T>& d) {
  detail::state_to_device(h.state(), d.state(), "SGD");
  d.lr = h.lr;
  d.set_steps(h.steps());
}

template <class T, class Spec, class... Ins, class Opt>
void save_checkpoint(const std::string& path, BasicModel<T, Spec, Ins...>& m, Opt& opt,
                     const TrainState& st = {}) {
  m.to_host();
  auto h = detail::host_twin(opt, m);
  zoo::save_checkpoint(path, m.host(), h, st);
}

// Restores the model (device and mirror) and the optimizer. A file that does not fit
// throws and changes neither the device's values nor the optimizer; the mirror, which
// zoo::load_checkpoint may have written in part before a late error (a tensor whose bytes
// do not convert), is brought back to the device's values.
template <class T, class Spec, class... Ins, class Opt>
TrainState load_checkpoint(const std::string& path, BasicModel<T, Spec, Ins...>& m, Opt& opt) {
  m.to_host();
  auto h = detail::host_twin(opt, m);
  TrainState st;
  try {
    st = zoo::load_checkpoint(path, m.host(), h);
  } catch (...) {
    m.to_host();
    throw;
  }
  m.to_device();
  to_device_optimizer(h, opt);
  return st;
}

}  // namespace zoo::cuda

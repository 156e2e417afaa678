// examples/guard.hpp — how the example trainers stop a diverging run.
//
// A learning rate too large for the model (autoencoders --lr 1e4) makes the loss
// inf or NaN within a few steps; from then on every update writes NaN into the
// weights, and a checkpoint saved at the end of the epoch would replace the last
// good one. So every trainer checks its loss (each part of it: D and G, the
// VAE's reconstruction and KL) after each step — a scalar compare, free — and
// checks every weight and optimizer moment before it writes any file a later run
// reads (checkpoint, EMA, best), since the update after the last checked loss
// can still overflow. The first failure stops the run with ONE line on stderr
// and exit code 3 (guard::exit_code), the same in every trainer:
//
//   autoencoders: the loss is not finite at epoch 2, step 9 (recon inf, kl nan);
//   stopping without writing: the last good checkpoint is runs/vae/checkpoint.safetensors
//
// ("no checkpoint written yet" when there is none). Checkpoints are written
// atomically, so the one named is intact, and --resume continues from it.
//
//   guard::check_loss("gan", epoch, it, {{"D", l.d}, {"G", l.g}}, ckpt);  // throws guard::Diverged
//   guard::check_state("gan", epoch, it, g, tr.opt_g, ckpt);              // before a save
//   ...
//   } catch (const guard::Diverged& e) { return guard::report(e); }       // in main, before std::exception
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace guard {

// The exit code of a run stopped by a non-finite loss or state (2 is a usage error, 1 any other failure).
inline constexpr int exit_code = 3;

// Thrown, not exit()ed, so the progress bars close and the CSV streams flush while the stack unwinds;
// main prints what() and returns exit_code.
struct Diverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Part {
  const char* name;
  double value;
};

// "the last good checkpoint is PATH" or "no checkpoint written yet". `ckpt` may list the files of one
// checkpoint separated by '|' (the GAN's generator and discriminator): all must exist.
inline std::string last_good(const std::string& ckpt) {
  std::string shown;
  std::size_t from = 0;
  while (from <= ckpt.size()) {
    const std::size_t bar = std::min(ckpt.find('|', from), ckpt.size());
    const std::string path = ckpt.substr(from, bar - from);
    if (path.empty() || !std::filesystem::exists(path)) return "no checkpoint written yet";
    shown += (shown.empty() ? "" : " and ") + path;
    from = bar + 1;
  }
  return "the last good checkpoint is " + shown;
}

inline std::string where(int epoch, long long step) {
  return "epoch " + std::to_string(epoch) + ", step " + std::to_string(step);
}

[[noreturn]] inline void stop(const std::string& prog, const std::string& what, const std::string& ckpt) {
  throw Diverged(prog + ": " + what + "; stopping without writing: " + last_good(ckpt));
}

// Stops the run when any part is inf or NaN; `step` counts steps over the whole run (as the CSVs do).
inline void check_loss(const std::string& prog, int epoch, long long step, std::initializer_list<Part> parts,
                       const std::string& ckpt) {
  bool ok = true;
  for (const Part& p : parts) ok = ok && std::isfinite(p.value);
  if (ok) return;
  std::string list;
  for (const Part& p : parts) {
    char v[48];
    std::snprintf(v, sizeof v, "%g", std::isnan(p.value) ? NAN : p.value);  // "nan", not "-nan"
    list += (list.empty() ? "" : ", ") + std::string(p.name) + " " + v;
  }
  stop(prog, "the loss is not finite at " + where(epoch, step) + " (" + list + ")", ckpt);
}

template <class T>
bool finite(const T* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

// Every parameter and buffer (batch-norm statistics) of a zoo::Model; a zoo::cuda::Model's
// through its host mirror (its values copied back first).
template <class M>
bool model_finite(M& m) {
  if constexpr (requires { m.host(); m.to_host(); }) {
    m.to_host();
    return model_finite(m.host());
  } else {
    const auto ps = m.parameters();
    return finite(ps.data, ps.size) && finite(m.buffer_data(), m.buffer_size());
  }
}

// Every moment of an optimizer that keeps them (Adam's m and v, SGD's momentum).
template <class O>
bool optimizer_finite(O& opt) {
  auto all = [](auto& bufs) {
    for (auto& b : bufs)
      if (!finite(b.data(), b.size())) return false;
    return true;
  };
  if constexpr (requires { opt.finite(); }) return opt.finite();  // device state, checked there
  else if constexpr (requires { opt.exp_avg(); opt.exp_avg_sq(); }) return all(opt.exp_avg()) && all(opt.exp_avg_sq());
  else if constexpr (requires { opt.state(); }) return all(opt.state());
  else return true;
}

// Before writing a file a later run reads: stops the run when the model (or optimizer) holds inf or NaN.
template <class M>
void check_model(const std::string& prog, int epoch, long long step, M& m, const std::string& ckpt,
                 const std::string& what = "the weights") {
  if (!model_finite(m)) stop(prog, what + " are not finite after " + where(epoch, step), ckpt);
}
template <class M, class O>
void check_state(const std::string& prog, int epoch, long long step, M& m, O& opt, const std::string& ckpt,
                 const std::string& what = "the weights") {
  check_model(prog, epoch, step, m, ckpt, what);
  if (!optimizer_finite(opt))
    stop(prog, "the optimizer's state is not finite after " + where(epoch, step), ckpt);
}

inline int report(const Diverged& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return exit_code;
}

}  // namespace guard

// zoo/io/safetensors.hpp — checkpoints in the safetensors format, with PyTorch's
// state_dict names, so weights move between zoo and PyTorch with no conversion.
//
//   file = u64 little-endian N · N bytes of JSON header · raw tensor bytes
//   header = {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//             "data_offsets": [begin, end]}, …}   (offsets relative to the data block)
//
//   zoo::save_safetensors("ae.safetensors", model);                 // atomic
//   zoo::load_safetensors("ae.safetensors", model, {.strict = true});
//   zoo::save_checkpoint("run.ckpt", model, adam, {.epoch = 3, .step = 750});  // + optimizer, RNG
//
// Reading trusts nothing: the header length must fit the file and a 100 MB cap,
// the header must be strict JSON, every entry needs a known dtype, a shape
// whose byte size matches its offsets, offsets inside the data block, and no
// two tensors may overlap. F16 and BF16 tensors (PyTorch's half-precision
// checkpoints) load into float and double models exactly, through
// io::convert_into; zoo writes F32 or F64. Writing goes through
// io::write_atomic (temporary file, fsync, rename), so a crash mid-write
// leaves the previous file intact.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "error.hpp"
#include "file.hpp"
#include "json.hpp"
#include "state_dict.hpp"

namespace zoo {

namespace io {

inline constexpr std::uint64_t safetensors_max_header = 100'000'000;  // as the reference reader

using Metadata = std::vector<std::pair<std::string, std::string>>;

// A parsed file: its bytes and the tensors (views into them). Move-only, since
// the views point into `bytes`.
struct SafetensorsFile {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::vector<RawTensor> tensors;
  Metadata metadata;

  SafetensorsFile() = default;
  SafetensorsFile(SafetensorsFile&&) = default;
  SafetensorsFile& operator=(SafetensorsFile&&) = default;
  SafetensorsFile(const SafetensorsFile&) = delete;

  const RawTensor* find(const std::string& n) const {
    for (const auto& t : tensors)
      if (t.name == n) return &t;
    return nullptr;
  }
  std::optional<std::string> meta(const std::string& key) const {
    for (const auto& [k, v] : metadata)
      if (k == key) return v;
    return std::nullopt;
  }
};

inline SafetensorsFile parse_safetensors(std::vector<std::uint8_t> bytes, const std::string& name) {
  auto fail = [&](const std::string& what) { return IoError(name, "safetensors: " + what); };
  SafetensorsFile f;
  f.name = name;
  if (bytes.size() < 8)
    throw fail("file is " + std::to_string(bytes.size()) + " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > safetensors_max_header)
    throw fail("header length " + std::to_string(n) + " is over the limit of " +
               std::to_string(safetensors_max_header) + " bytes");
  if (n > bytes.size() - 8)
    throw fail("header length " + std::to_string(n) + " runs past the end of the file (" +
               std::to_string(bytes.size()) + " bytes)");
  if (n < 2 || bytes[8] != '{') throw fail("header does not start with a JSON object");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  const json::Value header = json::parse(text, name + " (safetensors header)");
  if (!header.is_object()) throw fail("header is not a JSON object");
  const std::uint8_t* data = bytes.data() + 8 + n;
  const std::uint64_t data_len = bytes.size() - 8 - n;
  struct Range {
    std::uint64_t b, e;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (std::size_t m = 0; m < header.keys.size(); ++m) {
    const std::string& key = header.keys[m];
    const json::Value& v = header.values[m];
    if (key == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object");
      for (std::size_t k = 0; k < v.keys.size(); ++k) {
        if (!v.values[k].is_string()) throw fail("__metadata__ value of \"" + v.keys[k] + "\" is not a string");
        f.metadata.emplace_back(v.keys[k], v.values[k].text);
      }
      continue;
    }
    const std::string where = "tensor \"" + key + "\": ";
    if (key.empty()) throw fail("a tensor has an empty name");
    if (!v.is_object()) throw fail(where + "entry is not an object");
    const json::Value *dt = v.find("dtype"), *sh = v.find("shape"), *off = v.find("data_offsets");
    if (!dt || !sh || !off || v.keys.size() != 3)
      throw fail(where + "entry must have exactly dtype, shape and data_offsets");
    if (!dt->is_string() || dtype_size(dt->text) == 0)
      throw fail(where + "unknown dtype " + (dt->is_string() ? dt->text : "(not a string)"));
    RawTensor t;
    t.name = key;
    t.dtype = dt->text;
    if (!sh->is_array()) throw fail(where + "shape is not an array");
    std::uint64_t bytes_needed = dtype_size(t.dtype);
    bool overflow = false;
    for (const auto& d : sh->items) {
      std::uint64_t x = 0;
      if (!d.as_u64(x)) throw fail(where + "shape holds something other than a non-negative integer");
      if (x != 0 && bytes_needed > UINT64_MAX / x) overflow = true;
      else bytes_needed *= x;
      t.shape.push_back(static_cast<std::size_t>(x));
    }
    std::uint64_t b = 0, e = 0;
    if (!off->is_array() || off->items.size() != 2 || !off->items[0].as_u64(b) ||
        !off->items[1].as_u64(e))
      throw fail(where + "data_offsets must be two non-negative integers");
    if (b > e) throw fail(where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] are reversed");
    if (e > data_len)
      throw fail(where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                 "] run past the end of the data (" + std::to_string(data_len) + " bytes)");
    if ((overflow && bytes_needed != 0) || e - b != bytes_needed)
      throw fail(where + "shape " + shape_str(t.shape) + " of " + t.dtype + " needs " +
                 (overflow ? std::string("more than 2^64") : std::to_string(bytes_needed)) +
                 " bytes, data_offsets hold " + std::to_string(e - b));
    t.data = data + b;
    t.nbytes = static_cast<std::size_t>(e - b);
    f.tensors.push_back(std::move(t));
    ranges.push_back({b, e, &key});
  }
  std::sort(ranges.begin(), ranges.end(), [](auto& x, auto& y) { return x.b < y.b; });
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].b < ranges[i - 1].e && ranges[i].b < ranges[i].e)
      throw fail("tensors \"" + *ranges[i - 1].name + "\" and \"" + *ranges[i].name + "\" overlap");
  f.bytes = std::move(bytes);  // a moved vector keeps its buffer, so the views stay valid
  return f;
}

inline SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_raw(path), path);
}

// One tensor to write: bytes already in the file's (little-endian) layout.
struct OutTensor {
  std::string name, dtype;
  std::vector<std::size_t> shape;
  std::vector<std::uint8_t> bytes;
};

template <class S, class T>
OutTensor out_tensor(std::string name, std::string dtype, std::vector<std::size_t> shape, const T* p,
                     std::size_t n) {
  OutTensor o{std::move(name), std::move(dtype), std::move(shape), std::vector<std::uint8_t>(n * sizeof(S))};
  for (std::size_t i = 0; i < n; ++i) {
    const S v = static_cast<S>(p[i]);
    std::memcpy(o.bytes.data() + i * sizeof(S), &v, sizeof(S));
  }
  return o;
}

inline void write_safetensors(const std::string& path, const std::vector<OutTensor>& tensors,
                              const Metadata& metadata = {}) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata.size(); ++i)
      h.append(i ? "," : "").append(json::quote(metadata[i].first)).append(":").append(json::quote(metadata[i].second));
    h += "}";
  }
  std::uint64_t off = 0;
  for (const auto& t : tensors) {
    if (h.size() > 1) h += ",";
    h += json::quote(t.name) + ":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i) h += ',';
      h += std::to_string(t.shape[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]}";
    off += t.bytes.size();
  }
  h += "}";
  while (h.size() % 8) h += ' ';  // the data block starts 8-byte aligned
  const std::uint64_t n = h.size();
  std::uint8_t len[8];
  std::memcpy(len, &n, 8);
  std::vector<std::span<const std::uint8_t>> parts{{len, 8},
                                                   {reinterpret_cast<const std::uint8_t*>(h.data()), h.size()}};
  for (const auto& t : tensors) parts.emplace_back(t.bytes.data(), t.bytes.size());
  write_atomic(path, parts);
}

template <class T>
constexpr const char* dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "zoo checkpoints hold float or double");
  return std::is_same_v<T, float> ? "F32" : "F64";
}

// A model's state_dict as tensors to write; num_batches_tracked is I64 as in PyTorch.
template <class M>
std::vector<OutTensor> model_tensors(M& model) {
  using T = typename M::scalar;
  std::vector<OutTensor> out;
  for (const auto& t : model.state_dict()) {
    const bool counter = t.name.size() >= 19 && t.name.compare(t.name.size() - 19, 19, "num_batches_tracked") == 0;
    if (counter) out.push_back(out_tensor<std::int64_t>(t.name, "I64", t.shape, t.data, t.size));
    else out.push_back(out_tensor<T>(t.name, dtype_of<T>(), t.shape, t.data, t.size));
  }
  return out;
}

inline std::int64_t meta_int(const SafetensorsFile& f, const std::string& key) {
  const auto v = f.meta(key);
  if (!v) throw IoError(f.name, "checkpoint: __metadata__ has no \"" + key + "\"");
  std::size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v->size())
    throw IoError(f.name, "checkpoint: __metadata__ \"" + key + "\" = \"" + *v + "\" is not an integer");
  return x;
}

inline std::uint64_t meta_u64(const SafetensorsFile& f, const std::string& key) {
  const auto v = f.meta(key);
  if (!v) throw IoError(f.name, "checkpoint: __metadata__ has no \"" + key + "\"");
  std::size_t used = 0;
  unsigned long long x = 0;
  try {
    if (!v->empty() && (*v)[0] != '-') x = std::stoull(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v->size())
    throw IoError(f.name, "checkpoint: __metadata__ \"" + key + "\" = \"" + *v + "\" is not an unsigned integer");
  return x;
}

}  // namespace io

using io::LoadOptions;
using io::LoadResult;

template <class M>
void save_safetensors(const std::string& path, M& model, const io::Metadata& metadata = {}) {
  io::write_safetensors(path, io::model_tensors(model), metadata);
}

template <class M>
LoadResult load_safetensors(const std::string& path, M& model, LoadOptions opt = {}) {
  const auto f = io::read_safetensors(path);
  return io::load_state_dict(model.state_dict(), f.tensors, opt, path);
}

// ------------------------------------------------------------------ resumable checkpoints
// Everything a run needs to continue exactly: model tensors (state_dict names),
// the optimizer's buffers ("optimizer.<buffer>.<k>") and step count, the epoch
// and step, and optionally the state of an Rng.
struct TrainState {
  std::int64_t epoch = 0, step = 0;
  std::optional<std::array<std::uint64_t, 4>> rng;
  io::Metadata extra;  // the caller's own strings (config, git hash, …)
};

namespace io {
// Named buffer lists of the optimizers zoo has: Adam (exp_avg, exp_avg_sq), SGD (momentum_buffer).
template <class Opt, class F>
void visit_optimizer(Opt& opt, std::string& type, F&& f) {
  if constexpr (requires { opt.exp_avg(); opt.exp_avg_sq(); }) {
    type = "Adam";
    f("exp_avg", opt.exp_avg());
    f("exp_avg_sq", opt.exp_avg_sq());
  } else if constexpr (requires { opt.state(); }) {
    type = "SGD";
    f("momentum_buffer", opt.state());
  } else {
    static_assert(sizeof(Opt) == 0, "zoo::save_checkpoint: unknown optimizer type (expects Adam or SGD)");
  }
}
}  // namespace io

template <class M, class Opt>
void save_checkpoint(const std::string& path, M& model, Opt& opt, const TrainState& st = {}) {
  auto tensors = io::model_tensors(model);
  std::string type;
  io::visit_optimizer(opt, type, [&](const char* buf, auto& list) {
    for (std::size_t k = 0; k < list.size(); ++k)
      tensors.push_back(io::out_tensor<std::remove_cvref_t<decltype(list[k][0])>>(
          std::string("optimizer.") + buf + "." + std::to_string(k),
          io::dtype_of<std::remove_cvref_t<decltype(list[k][0])>>(), {list[k].size()}, list[k].data(),
          list[k].size()));
  });
  io::Metadata meta{{"format", "zoo-checkpoint-1"},
                    {"optimizer", type},
                    {"optimizer.steps", std::to_string(opt.steps())},
                    {"optimizer.lr", [&] {
                       char b[40];
                       std::snprintf(b, sizeof b, "%.17g", opt.lr);
                       return std::string(b);
                     }()},
                    {"epoch", std::to_string(st.epoch)},
                    {"step", std::to_string(st.step)}};
  if (st.rng)
    for (int i = 0; i < 4; ++i) meta.emplace_back("rng." + std::to_string(i), std::to_string((*st.rng)[i]));
  for (const auto& e : st.extra) meta.push_back(e);
  io::write_safetensors(path, tensors, meta);
}

// Restores model, optimizer (buffers, step count, lr) and returns the TrainState.
template <class M, class Opt>
TrainState load_checkpoint(const std::string& path, M& model, Opt& opt) {
  const auto f = io::read_safetensors(path);
  std::vector<io::RawTensor> model_part, opt_part;
  for (const auto& t : f.tensors) (t.name.rfind("optimizer.", 0) == 0 ? opt_part : model_part).push_back(t);
  std::string type;
  io::visit_optimizer(opt, type, [](const char*, auto&) {});
  if (f.meta("optimizer") != type)
    throw IoError(path, "checkpoint: optimizer is " + f.meta("optimizer").value_or("(none)") +
                            ", the program uses " + type);
  // Check everything before changing anything: a failed load leaves the run as it was.
  io::visit_optimizer(opt, type, [&](const char* buf, auto& list) {
    for (std::size_t k = 0; k < list.size(); ++k) {
      const std::string n = std::string("optimizer.") + buf + "." + std::to_string(k);
      const io::RawTensor* t = nullptr;
      for (const auto& r : opt_part)
        if (r.name == n) t = &r;
      if (!t) throw IoError(path, "checkpoint: missing optimizer tensor " + n);
      if (t->numel() != list[k].size() || t->shape.size() != 1)
        throw IoError(path, "checkpoint: optimizer tensor " + n + " has shape " + io::shape_str(t->shape) +
                                ", the optimizer has (" + std::to_string(list[k].size()) + ",)");
    }
  });
  const std::int64_t steps = io::meta_int(f, "optimizer.steps");
  TrainState st;
  st.epoch = io::meta_int(f, "epoch");
  st.step = io::meta_int(f, "step");
  if (f.meta("rng.0")) {
    std::array<std::uint64_t, 4> s{};
    for (int i = 0; i < 4; ++i) s[i] = io::meta_u64(f, "rng." + std::to_string(i));
    st.rng = s;
  }
  io::load_state_dict(model.state_dict(), model_part, {.strict = true}, path);
  io::visit_optimizer(opt, type, [&](const char* buf, auto& list) {
    for (std::size_t k = 0; k < list.size(); ++k) {
      const std::string n = std::string("optimizer.") + buf + "." + std::to_string(k);
      for (const auto& r : opt_part)
        if (r.name == n) io::convert_into(r, list[k].data(), path);
    }
  });
  opt.set_steps(steps);
  if (const auto lr = f.meta("optimizer.lr")) opt.lr = std::strtod(lr->c_str(), nullptr);
  for (const auto& [k, v] : f.metadata)
    if (k != "format" && k != "optimizer" && k.rfind("optimizer.", 0) != 0 && k != "epoch" && k != "step" &&
        k.rfind("rng.", 0) != 0)
      st.extra.emplace_back(k, v);
  return st;
}

}  // namespace zoo

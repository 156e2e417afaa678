// zoo/io/state_dict.hpp — loading named tensors from a file into a model, as
// PyTorch's Module.load_state_dict(state_dict, strict).
//
// Readers (safetensors, .pt) produce RawTensors: a name, a dtype, a shape and
// row-major little-endian bytes, already bounds-checked, inside the file's
// buffer (or, for a non-contiguous .pt view, in a copy the PtFile owns). Loading
// matches names with model.state_dict(): a shape mismatch is always an error
// (as in PyTorch); missing and unexpected names are errors when strict, and are
// returned otherwise. Every fault is listed in one message, not just the first.
// Values convert to the model's scalar type (F64 → float, I64 → float for
// BatchNorm's num_batches_tracked, F16 and BF16 → float exactly, since every
// half and bfloat16 value is a float32 value).
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "../core/param.hpp"
#include "error.hpp"

namespace zoo::io {

static_assert(std::endian::native == std::endian::little,
              "zoo's checkpoint readers assume a little-endian host, as PyTorch's files are");

// safetensors' dtype names; .pt storages map to the same.
inline std::size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64") return 8;
  if (d == "F32" || d == "I32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16") return 2;
  if (d == "U8" || d == "I8" || d == "BOOL") return 1;
  return 0;
}
inline bool dtype_supported(const std::string& d) {
  return d == "F32" || d == "F64" || d == "I64" || d == "I32" || d == "F16" || d == "BF16";
}
inline constexpr const char* supported_dtypes = "F32, F64, I64, I32, F16 and BF16";

// IEEE binary16 → binary32 by bits, so that no rounding mode or compiler
// support for _Float16 is involved: 1 sign, 5 exponent (bias 15), 10 mantissa.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu;
  std::uint32_t man = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    // ±inf, or NaN with its payload. A signalling NaN comes out quiet, as from
    // F16C's vcvtph2ps and PyTorch's own conversion.
    bits = sign | 0x7f800000u | man << 13 | (man ? 0x400000u : 0u);
  } else if (exp != 0) {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  } else if (man == 0) {
    bits = sign;  // ±0
  } else {
    // Subnormal: man · 2^-24. Shift the leading 1 up to the implicit bit; each
    // shift lowers the exponent by one, from 2^-14 (the smallest normal half).
    std::uint32_t e = 127 - 15 + 1;
    while (!(man & 0x400u)) man <<= 1, --e;
    bits = sign | e << 23 | (man & 0x3ffu) << 13;
  }
  return std::bit_cast<float>(bits);
}
// bfloat16 is the top half of a float32.
inline float bf16_to_float(std::uint16_t h) { return std::bit_cast<float>(std::uint32_t{h} << 16); }

struct RawTensor {
  std::string name, dtype;
  std::vector<std::size_t> shape;
  const std::uint8_t* data = nullptr;  // little-endian, numel * dtype_size bytes
  std::size_t nbytes = 0;
  std::size_t numel() const {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

inline std::string shape_str(const std::vector<std::size_t>& s) {
  std::string o = "(";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + (s.size() == 1 ? ",)" : ")");
}

// Copies `t` into `dst` (numel values), converting; memcpy because the bytes
// in a file need not be aligned.
template <class T>
void convert_into(const RawTensor& t, T* dst, const std::string& file) {
  const std::size_t n = t.numel();
  if (!dtype_supported(t.dtype))
    throw IoError(file, "tensor \"" + t.name + "\" has dtype " + t.dtype +
                            "; zoo reads " + supported_dtypes);
  if (t.nbytes != n * dtype_size(t.dtype))
    throw IoError(file, "tensor \"" + t.name + "\": byte size does not match its shape");
  auto each = [&]<class S>(S) {
    for (std::size_t i = 0; i < n; ++i) {
      S v;
      std::memcpy(&v, t.data + i * sizeof(S), sizeof(S));
      dst[i] = static_cast<T>(v);
    }
  };
  auto half = [&](float (*to_float)(std::uint16_t)) {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t v;
      std::memcpy(&v, t.data + i * 2, 2);
      dst[i] = static_cast<T>(to_float(v));
    }
  };
  if (t.dtype == "F32") each(float{});
  else if (t.dtype == "F64") each(double{});
  else if (t.dtype == "I64") each(std::int64_t{});
  else if (t.dtype == "I32") each(std::int32_t{});
  else if (t.dtype == "F16") half(half_to_float);
  else half(bf16_to_float);
}

struct LoadOptions {
  bool strict = true;
};
struct LoadResult {
  std::vector<std::string> missing_keys, unexpected_keys;
};

template <class T>
LoadResult load_state_dict(const std::vector<NamedTensor<T>>& targets,
                           const std::vector<RawTensor>& source, LoadOptions opt,
                           const std::string& file) {
  LoadResult r;
  std::vector<std::string> misshaped, bad_dtype;
  std::vector<std::pair<const NamedTensor<T>*, const RawTensor*>> plan;
  std::vector<bool> used(source.size(), false);
  for (const auto& t : targets) {
    const RawTensor* s = nullptr;
    for (std::size_t k = 0; k < source.size(); ++k)
      if (source[k].name == t.name) s = &source[k], used[k] = true;
    if (!s) {
      r.missing_keys.push_back(t.name);
      continue;
    }
    if (s->shape != t.shape)
      misshaped.push_back(t.name + " (file " + shape_str(s->shape) + ", model " + shape_str(t.shape) + ")");
    else if (!dtype_supported(s->dtype))
      bad_dtype.push_back(t.name + " (" + s->dtype + ")");
    else
      plan.emplace_back(&t, s);
  }
  for (std::size_t k = 0; k < source.size(); ++k)
    if (!used[k]) r.unexpected_keys.push_back(source[k].name);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::string err;
  if (!misshaped.empty()) err += "\n  size mismatch: " + list(misshaped);
  if (!bad_dtype.empty()) err += "\n  unsupported dtype (zoo reads " + std::string(supported_dtypes) + "): " + list(bad_dtype);
  if (opt.strict && !r.missing_keys.empty()) err += "\n  missing: " + list(r.missing_keys);
  if (opt.strict && !r.unexpected_keys.empty()) err += "\n  unexpected: " + list(r.unexpected_keys);
  if (!err.empty()) throw IoError(file, "cannot load into the model:" + err);
  for (auto [t, s] : plan) convert_into(*s, t->data, file);
  return r;
}

}  // namespace zoo::io

// .pt files with the storage layouts PyTorch writes (transposes, slices of one
// storage, tied weights, expands, stepped slices, 0-element tensors) load with
// PyTorch's values; views that reach past their storage, or whose copy would be
// huge, are refused before anything is read or allocated; F16 and BF16 tensors
// (.pt and safetensors) convert to float exactly. Fixtures:
// tests/fixtures/make_pt_view_fixtures.py.
#include <doctest/doctest.h>

#include <zoo/zoo.hpp>

#include <chrono>
#include <cmath>
#include <cstring>

#include "support/fixtures.hpp"
#include "zoo/io/safetensors.hpp"
#include "zoo/io/torch_pt.hpp"

using namespace zoo;

namespace {
const std::string dir = ZOO_FIXTURE_DIR;
const test::Fixture& expected() {
  static const test::Fixture fx("pt_view_expected.txt");
  return fx;
}

const io::RawTensor& find(const std::vector<io::RawTensor>& ts, const std::string& n) {
  for (const auto& t : ts)
    if (t.name == n) return t;
  FAIL("no tensor " << n);
  throw 0;
}

// Every value, converted to float as a model would load it, has exactly the
// bits PyTorch's .float() gives (NaNs included: the fixture holds bit patterns).
void check_bits(const io::RawTensor& t, const std::string& key) {
  INFO(key);
  const auto& want = expected()[key];
  REQUIRE(t.shape == want.shape);
  std::vector<float> got(t.numel());
  io::convert_into(t, got.data(), "f");
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto w = static_cast<std::uint32_t>(want.values[i]);
    const auto g = std::bit_cast<std::uint32_t>(got[i]);
    if (g != w && bad++ < 5) MESSAGE("[" << i << "] got 0x" << std::hex << g << " want 0x" << w);
  }
  CHECK(bad == 0);
}

std::string error_of(const std::string& file, std::uint64_t max_view_bytes = 0) {
  try {
    (void)io::parse_pt(io::read_raw(dir + "/" + file), file, max_view_bytes);
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("every view PyTorch writes loads with PyTorch's values") {
  const auto f = io::read_pt(dir + "/pt_view_layouts.pt");
  const char* names[] = {"t.weight", "q.weight", "kv.weight", "k.col",   "emb.weight", "head.weight",
                         "emb.t",    "expand",   "expand3",   "step",    "step.t",     "permute",
                         "scalar",   "empty",    "empty.slice"};
  REQUIRE(f.tensors.size() == std::size(names));
  for (std::size_t i = 0; i < f.tensors.size(); ++i) {
    CHECK(f.tensors[i].name == names[i]);
    CHECK(f.tensors[i].dtype == "F32");
    check_bits(f.tensors[i], std::string("layouts/") + names[i]);
  }
  // Contiguous views are read in place, slices of one storage at their offsets;
  // the others are copies. Tied weights are copied once, if at all.
  const auto in_file = [&](const io::RawTensor& t) {
    return t.data >= f.bytes.data() && t.data + t.nbytes <= f.bytes.data() + f.bytes.size();
  };
  const auto &q = find(f.tensors, "q.weight"), &kv = find(f.tensors, "kv.weight");
  CHECK(in_file(q));
  CHECK(in_file(kv));
  CHECK(kv.data == q.data + 12 * 4);  // qkv[4:] starts 12 floats into the storage qkv[:4] starts
  CHECK(find(f.tensors, "emb.weight").data == find(f.tensors, "head.weight").data);
  CHECK(in_file(find(f.tensors, "scalar")));
  for (const char* n : {"t.weight", "k.col", "emb.t", "expand", "expand3", "step", "step.t", "permute"})
    CHECK_MESSAGE(!in_file(find(f.tensors, n)), n);
  CHECK(f.views.size() == 8);
  CHECK(find(f.tensors, "expand3").shape == std::vector<std::size_t>{2, 4, 3});
  CHECK(find(f.tensors, "scalar").shape.empty());
  CHECK(find(f.tensors, "empty").nbytes == 0);
  CHECK(find(f.tensors, "empty.slice").shape == std::vector<std::size_t>{0, 6});
}

TEST_CASE("a Linear whose weight is a transpose and whose bias is a slice gives PyTorch's output") {
  const auto& fx = expected();
  Tensor<float> x({4, 5});
  fx.copy_to("linear/x", x.data());
  Model<Sequential<Linear<3>>, Shape<5>> m(1);
  const auto r = load_pt(dir + "/pt_view_linear.pt", m);
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  test::check_close("y", m.forward(x).data(), fx["linear/y"], 1e-6, 1e-6);

  // F16 weight and BF16 bias load into a float model as their exact values.
  Model<Sequential<Linear<3>>, Shape<5>> h(1);
  load_pt(dir + "/pt_view_linear_f16.pt", h);
  test::check_close("y16", h.forward(x).data(), fx["linear_f16/y"], 1e-6, 1e-6);
  Model<Sequential<Linear<3>>, Shape<5>> s(1);
  load_safetensors(dir + "/pt_view_linear_f16.safetensors", s);
  test::check_close("y16 (safetensors)", s.forward(x).data(), fx["linear_f16/y"], 1e-6, 1e-6);
  // In a double model too: every half is a double.
  BasicModel<double, Sequential<Linear<3>>, Shape<5>> d(1);
  load_pt(dir + "/pt_view_linear_f16.pt", d);
  Tensor<double> xd({4, 5});
  fx.copy_to("linear/x", xd.data());
  test::check_close("y16 (double)", d.forward(xd).data(), fx["linear_f16/y"], 1e-6, 1e-6);
}

TEST_CASE("F16 and BF16 convert to float exactly, in .pt and in safetensors") {
  const auto pt = io::read_pt(dir + "/pt_view_half.pt");
  const auto st = io::read_safetensors(dir + "/pt_view_half.safetensors");
  for (const char* n : {"f16.special", "bf16.special", "f16.mat", "bf16.mat"}) {
    check_bits(find(pt.tensors, n), std::string("half/") + n);
    check_bits(find(st.tensors, n), std::string("half/") + n);
  }
  check_bits(find(pt.tensors, "f16.t"), "half/f16.t");  // a transposed F16 view
  CHECK(find(pt.tensors, "f16.special").dtype == "F16");
  CHECK(find(st.tensors, "bf16.special").dtype == "BF16");

  // The special values, spelled out: ±0, 65504, the smallest normal and
  // subnormal halves, ±inf, NaN.
  std::vector<double> v(18);
  io::convert_into(find(st.tensors, "f16.special"), v.data(), "f");
  CHECK(v[0] == 0.0);
  CHECK(!std::signbit(v[0]));
  CHECK(v[1] == 0.0);
  CHECK(std::signbit(v[1]));
  CHECK(v[2] == 1.0);
  CHECK(v[3] == -2.5);
  CHECK(v[4] == 65504.0);
  CHECK(v[5] == -65504.0);
  CHECK(v[6] == std::ldexp(1.0, -14));
  CHECK(v[7] == std::ldexp(1.0, -24));
  CHECK(v[8] == std::ldexp(1023.0, -24));
  CHECK(v[9] == -std::ldexp(1.0, -24));
  CHECK(v[11] == INFINITY);
  CHECK(v[12] == -INFINITY);
  CHECK(std::isnan(v[13]));
  CHECK(std::isnan(v[14]));
  CHECK(std::signbit(v[14]));
  CHECK(std::isnan(v[15]));  // a signalling NaN, quiet after conversion as in PyTorch

  // Every one of the 65536 halves: the bit conversion agrees with the value
  // the format defines, (−1)^s · 2^(e−15) · (1 + m/1024) or · 2^−14 · m/1024.
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    const float got = io::half_to_float(h);
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    if (e == 31) {
      if (m == 0) CHECK(got == (s ? -INFINITY : INFINITY));
      else CHECK((std::isnan(got) && std::signbit(got) == bool(s) &&
                  ((std::bit_cast<std::uint32_t>(got) >> 13) & 1023) == unsigned(m | 512)));
      continue;
    }
    const double mag = e ? std::ldexp(1.0 + m / 1024.0, e - 15) : std::ldexp(m / 1024.0, -14);
    const double want = s ? -mag : mag;
    if (got != want || std::signbit(got) != bool(s)) {
      CHECK_MESSAGE(false, "half 0x" << std::hex << b << " gives " << got << ", want " << want);
      break;
    }
  }
  CHECK(io::bf16_to_float(0x3f80) == 1.0f);
  CHECK(std::bit_cast<std::uint32_t>(io::bf16_to_float(0xffc1)) == 0xffc10000u);
}

TEST_CASE("views that reach past their storage are refused, naming the tensor and the storage") {
  struct Case {
    const char* file;
    const char* expect;
  };
  const Case cases[] = {
      {"pt_view_bad_stride.pt",
       "tensor \"w\" of shape (3, 4), stride (4, 2), at offset 0 runs past its storage (48 bytes): it reads element 14 of storage 0, which holds 12 F32"},
      {"pt_view_bad_offset.pt", "tensor \"w\" of shape (4,), stride (1,), at offset 10 runs past its storage (48 bytes): it reads element 13"},
      {"pt_view_bad_overflow.pt", "tensor \"w\" of shape (5, 2), stride (4611686018427387904, 1), at offset 0 runs past its storage (48 bytes): it reads element past 2^64"},
      {"pt_view_bad_numel.pt", "tensor \"w\" of shape (1099511627776, 1099511627776, 1099511627776), stride (0, 0, 0), at offset 0 claims more than 2^64 bytes"},
      {"pt_view_bad_declared.pt", "tensor \"w\": storage 0 declares 100 elements of F32 (4 bytes each), its entry archive/data/0 holds 48 bytes"},
      {"pt_view_neg_stride.pt", "pickle: tensor stride holds a non-integer or negative value"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(c.file);
    INFO(c.file << ": " << msg);
    CHECK(msg.find(c.file) == 0);
    CHECK(msg.find(c.expect) != std::string::npos);
  }
}

TEST_CASE("copies of views are capped: a huge expand over one float is refused at once") {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = error_of("pt_view_huge_expand.pt");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(msg);
  CHECK(msg.find("pt_view_huge_expand.pt") == 0);
  CHECK(msg.find("tensor \"w\" of shape (1048576, 1048576), stride (0, 0), at offset 0 is a view whose row-major copy "
                 "needs 4398046511104 bytes") != std::string::npos);
  CHECK(msg.find("limit of " + std::to_string(io::pt_view_limit(io::read_raw(dir + "/pt_view_huge_expand.pt").size()))) != std::string::npos);
  CHECK(secs < 1.0);

  CHECK(io::pt_view_limit(0) == 64u << 20);
  CHECK(io::pt_view_limit(1000) == 16000 + (64u << 20));
  CHECK(io::pt_view_limit(std::uint64_t{1} << 40) == io::default_max_bytes);
  CHECK(io::pt_view_limit(UINT64_MAX) == io::default_max_bytes);

  // The cap counts every copy in the file: layouts copies 8 views of
  // 60 + 48 + 32 + 48 + 96 + 48 + 32 + 96 = 460 bytes (emb.t once).
  CHECK(error_of("pt_view_layouts.pt", 460) == "(no error)");
  const std::string over = error_of("pt_view_layouts.pt", 459);
  INFO(over);
  CHECK(over.find("tensor \"permute\"") != std::string::npos);
  CHECK(over.find("limit of 459 bytes") != std::string::npos);
}

TEST_CASE("a view reaching exactly the last element of its storage loads; one past is refused") {
  auto bytes = io::read_raw(dir + "/pt_view_bad_offset.pt");
  // Offset 10 → 8: the view (4,) then ends on element 11 of 12. The offset is
  // the pickle's BININT1 10 (K\x0a) just before the size tuple.
  std::size_t hits = 0, at = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i)
    if (bytes[i] == 'K' && bytes[i + 1] == 10) ++hits, at = i + 1;
  REQUIRE(hits == 1);
  bytes[at] = 8;
  const auto f = io::parse_pt(bytes, "edited.pt");
  REQUIRE(f.tensors.size() == 1);
  std::vector<float> v(4);
  io::convert_into(f.tensors[0], v.data(), "f");
  CHECK(v == std::vector<float>{8, 9, 10, 11});
  bytes[at] = 9;
  try {
    (void)io::parse_pt(bytes, "edited.pt");
    FAIL("offset 9 was accepted");
  } catch (const IoError& e) {
    CHECK(std::string(e.what()).find("reads element 12 of storage 0, which holds 12 F32") != std::string::npos);
  }
}

// safetensors: a file written by PyTorch (tests/fixtures/make_io_fixtures.py)
// loads into the equivalent zoo model and gives the same outputs; zoo's files
// round-trip; names are checked strictly or not; hostile headers give clear
// errors; optimizer state resumes a run exactly.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <zoo/zoo.hpp>

#include "support/fixtures.hpp"
#include "zoo/io/safetensors.hpp"

namespace fs = std::filesystem;
using namespace zoo;

namespace {
using BnNet = Sequential<Linear<16>, BatchNorm, ReLU, Linear<3>>;
using PlainNet = Sequential<Linear<16>, ReLU, Linear<3>>;
const std::string fixture = std::string(ZOO_FIXTURE_DIR) + "/io_mlp.safetensors";

std::string tmpdir() {
  auto d = fs::temp_directory_path() / ("zoo_st_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}
// A file: header text (padded to 8), then `data_len` bytes.
std::vector<std::uint8_t> st_file(const std::string& header, std::size_t data_len,
                                  std::uint64_t claimed = UINT64_MAX) {
  std::vector<std::uint8_t> b(8 + header.size() + data_len, 0);
  const std::uint64_t n = claimed == UINT64_MAX ? header.size() : claimed;
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}
std::string error_of(const std::vector<std::uint8_t>& bytes) {
  try {
    (void)io::parse_safetensors(bytes, "hostile.safetensors");
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("a PyTorch state_dict in safetensors gives the same outputs in zoo") {
  Model<BnNet, Shape<8>> m(123);
  const auto r = load_safetensors(fixture, m);
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  m.eval();
  test::Fixture fx("io_mlp.txt");
  Tensor<float> x({4, 8});
  fx.copy_to("x", x.data());
  const auto& y = m.forward(x);
  test::check_close("y", y.data(), fx["y"], 1e-5, 0);
  const auto sd = m.state_dict();
  const auto nbt = std::find_if(sd.begin(), sd.end(), [](auto& t) { return t.name == "1.num_batches_tracked"; });
  REQUIRE(nbt != sd.end());
  CHECK(*nbt->data == doctest::Approx(fx["num_batches_tracked"].values[0]));
  const auto f = io::read_safetensors(fixture);
  CHECK(f.meta("source") == std::string("make_io_fixtures.py"));
  CHECK(f.find("1.num_batches_tracked")->dtype == "I64");
}

TEST_CASE("zoo's safetensors round-trip, F32 and F64") {
  const auto dir = tmpdir();
  Model<BnNet, Shape<8>> a(1), b(2);
  a.buffer_data()[3] = 0.75f;
  save_safetensors(dir + "/a.safetensors", a, {{"epoch", "3"}});
  load_safetensors(dir + "/a.safetensors", b);
  auto pa = a.parameters(), pb = b.parameters();
  CHECK(std::equal(pa.data, pa.data + pa.size, pb.data));
  CHECK(std::equal(a.buffer_data(), a.buffer_data() + a.buffer_size(), b.buffer_data()));
  const auto f = io::read_safetensors(dir + "/a.safetensors");
  CHECK(f.meta("epoch") == std::string("3"));
  CHECK(f.find("0.weight")->dtype == "F32");
  CHECK(f.find("1.num_batches_tracked")->dtype == "I64");
  CHECK(f.find("1.num_batches_tracked")->shape.empty());
  CHECK(f.tensors.size() == 9);

  BasicModel<double, BnNet, Shape<8>> d(5);
  save_safetensors(dir + "/d.safetensors", d);
  CHECK(io::read_safetensors(dir + "/d.safetensors").find("3.weight")->dtype == "F64");
  Model<BnNet, Shape<8>> e(0);
  load_safetensors(dir + "/d.safetensors", e);  // F64 → float
  CHECK(e.parameters().data[7] == static_cast<float>(d.parameters().data[7]));
  CHECK(!fs::exists(dir + "/a.safetensors.tmp." + std::to_string(::getpid())));
  fs::remove_all(dir);
}

TEST_CASE("strict and non-strict loading list missing, unexpected and mis-shaped names") {
  Model<PlainNet, Shape<8>> m(0);
  std::string msg;
  try {
    load_safetensors(fixture, m);
  } catch (const IoError& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("missing: 2.weight, 2.bias") != std::string::npos);
  CHECK(msg.find("unexpected: 1.weight, 1.bias, 1.running_mean, 1.running_var, "
                 "1.num_batches_tracked, 3.weight, 3.bias") != std::string::npos);

  const float before = m.state_dict()[2].data[0];
  const auto r = load_safetensors(fixture, m, {.strict = false});
  CHECK(r.missing_keys == std::vector<std::string>{"2.weight", "2.bias"});
  CHECK(r.unexpected_keys.size() == 7);
  CHECK(m.state_dict()[2].data[0] == before);  // 2.weight untouched
  const auto f = io::read_safetensors(fixture);
  float w0;
  std::memcpy(&w0, f.find("0.weight")->data, 4);
  CHECK(m.state_dict()[0].data[0] == w0);  // 0.weight loaded

  // A shape mismatch is an error even when not strict, as in PyTorch.
  Model<Sequential<Linear<32>, BatchNorm, ReLU, Linear<3>>, Shape<8>> wide(0);
  CHECK_THROWS_WITH(load_safetensors(fixture, wide, {.strict = false}),
                    doctest::Contains("size mismatch: 0.weight (file (16, 8), model (32, 8)), 0.bias "
                                      "(file (16,), model (32,))"));
}

TEST_CASE("hostile safetensors headers each give a clear error") {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK(error_of(st_file(ok, 8)) == "(no error)");
  struct Case {
    std::vector<std::uint8_t> bytes;
    const char* expect;
  };
  const std::vector<Case> cases{
      {{1, 2, 3}, "shorter than the 8-byte header length"},
      {st_file(ok, 8, UINT64_MAX - 1), "over the limit"},
      {st_file(ok, 8, 1ull << 40), "over the limit"},
      {st_file(ok, 8, 5000), "runs past the end of the file"},
      {st_file("[1,2]", 0), "does not start with a JSON object"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},})", 8), "invalid JSON"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8), "invalid JSON"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}x)", 8), "unexpected text after"},
      {st_file(R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", 8), "leading zero"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{}})", 8), "duplicate key"},
      {st_file("{\"a\x01\":{}}", 0), "raw control character"},
      {st_file(R"({"a\ud800":{}})", 0), "high surrogate without its pair"},
      {st_file(std::string(100, '[') , 0), "does not start with a JSON object"},
      {st_file("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", 0), "nesting deeper than 64"},
      {st_file(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype Q7"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8), "exactly dtype, shape and data_offsets"},
      {st_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative integer"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), "non-negative integer"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}})", 8), "run past the end of the data (8 bytes)"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8), "run past the end"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}})", 8), "two non-negative integers"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "reversed"},
      {st_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12 bytes, data_offsets hold 8"},
      {st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8), "more than 2^64"},
      {st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "\"a\" and \"b\" overlap"},
      {st_file(R"({"__metadata__":{"k":1}})", 0), "is not a string"},
      {st_file(R"({"a":[]})", 0), "entry is not an object"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(c.bytes);
    INFO("expect \"" << c.expect << "\", got: " << msg);
    CHECK(msg.find("hostile.safetensors") == 0);
    CHECK(msg.find(c.expect) != std::string::npos);
  }
  // An unsupported dtype parses, but loading it into a model says so.
  const auto f = io::parse_safetensors(st_file(R"({"0.bias":{"dtype":"I16","shape":[16],"data_offsets":[0,32]}})", 32), "h");
  Model<PlainNet, Shape<8>> m(0);
  CHECK_THROWS_WITH(io::load_state_dict(m.state_dict(), f.tensors, {.strict = false}, "h"),
                    doctest::Contains("unsupported dtype (zoo reads F32, F64, I64, I32, F16 and BF16): 0.bias (I16)"));
}

TEST_CASE("JSON: escapes, unicode and numbers") {
  const auto v = io::json::parse(R"({"s":"a\"b\\c\/\n\u00e9\ud83d\ude00","n":[0,-1.5e3,18446744073709551615]})");
  CHECK(v.find("s")->text == "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
  std::uint64_t u = 0;
  CHECK(v.find("n")->items[2].as_u64(u));
  CHECK(u == UINT64_MAX);
  CHECK(!v.find("n")->items[1].as_u64(u));
  CHECK(io::json::parse(io::json::quote("x\"\x01y")).text == "x\"\x01y");
  for (const char* bad : {"", "{", "[1,]", "01", "1.", "-", "tru", "\"\\x\"", "nan", "{\"a\" 1}", "[1 2]"})
    CHECK_THROWS_AS(io::json::parse(bad), IoError);
}

TEST_CASE("a checkpoint with Adam state resumes a run exactly") {
  const auto dir = tmpdir();
  using Net = Sequential<Linear<16>, BatchNorm, ReLU, Linear<3>>;
  Tensor<float> x({8, 8}), dy({8, 3});
  Rng data(42);
  auto train = [&](Model<Net, Shape<8>>& m, Adam<float>& opt, Rng& rng, int steps) {
    for (int s = 0; s < steps; ++s) {
      rng.fill_normal(x.data(), x.size());
      const auto& y = m.forward(x);
      for (std::size_t i = 0; i < y.size(); ++i) dy[i] = y[i] * 0.1f;  // d(0.05·y²)
      m.zero_grad();
      m.backward(dy);
      opt.step();
    }
  };
  Model<Net, Shape<8>> a(7);
  Adam<float> oa(a.parameters(), {.lr = 1e-2});
  train(a, oa, data, 5);
  const auto rs = data.state();
  save_checkpoint(dir + "/run.ckpt", a, oa,
                  {.epoch = 2, .step = 5, .rng = std::array{rs[0], rs[1], rs[2], rs[3]}, .extra = {{"note", "hi"}}});
  train(a, oa, data, 4);  // the uninterrupted run

  Model<Net, Shape<8>> b(99);
  Adam<float> ob(b.parameters(), {.lr = 1.0});
  const TrainState st = load_checkpoint(dir + "/run.ckpt", b, ob);
  CHECK(st.epoch == 2);
  CHECK(st.step == 5);
  CHECK(ob.steps() == 5);
  CHECK(ob.lr == doctest::Approx(1e-2));
  REQUIRE(st.rng);
  CHECK(st.extra == io::Metadata{{"note", "hi"}});
  Rng resumed(0);
  resumed.set_state(st.rng->data());
  train(b, ob, resumed, 4);  // the resumed run
  auto pa = a.parameters(), pb = b.parameters();
  CHECK(std::equal(pa.data, pa.data + pa.size, pb.data));  // bit for bit
  CHECK(std::equal(a.buffer_data(), a.buffer_data() + a.buffer_size(), b.buffer_data()));

  // Wrong optimizer type, and a plain model file as a checkpoint, are refused.
  SGD<float> sgd(b.parameters());
  CHECK_THROWS_WITH(load_checkpoint(dir + "/run.ckpt", b, sgd), doctest::Contains("optimizer is Adam"));
  save_safetensors(dir + "/plain.safetensors", b);
  CHECK_THROWS_WITH(load_checkpoint(dir + "/plain.safetensors", b, ob), doctest::Contains("optimizer is (none)"));
  fs::remove_all(dir);
}

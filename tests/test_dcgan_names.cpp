// The DCGAN keeps the reference PyTorch modules' state_dict names (issue 18): G and D are
// two halves, self.fc and self.conv, so the keys are fc.0.weight, fc.2.running_mean,
// conv.3.weight, …. tests/fixtures/make_gan_fixtures.py builds the reference modules and
// writes their key lists and their torch.save'd state_dicts (gzip'd); here zoo's names and
// shapes must equal PyTorch's exactly, the files must load strictly, and the loaded models
// must give PyTorch's outputs (G in eval mode, with its saved running statistics, and in
// train mode; D), in float and double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <zoo/graph/model.hpp>
#include <zoo/io/file.hpp>
#include <zoo/io/torch_pt.hpp>
#include <zoo/models/gan.hpp>
#include <zoo/models/gan_training.hpp>

#include "support/fixtures.hpp"

using namespace zoo;
using namespace zoo::models;

namespace {
const std::string dir = ZOO_FIXTURE_DIR;

struct Key {
  std::string name;
  std::vector<std::size_t> shape;
  bool operator==(const Key&) const = default;
};
struct KeyList {
  std::vector<Key> params, buffers;
};
std::ostream& operator<<(std::ostream& os, const Key& k) {
  os << k.name << " (";
  for (std::size_t i = 0; i < k.shape.size(); ++i) os << (i ? ", " : "") << k.shape[i];
  return os << ")";
}

// dcgan_keys.txt: "<model> <param|buffer> <key> <dim>..." in named_parameters() /
// named_buffers() order.
std::map<std::string, KeyList> reference_keys() {
  std::ifstream f(dir + "/dcgan_keys.txt");
  REQUIRE(f);
  std::map<std::string, KeyList> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream s(line);
    std::string model, kind;
    Key k;
    s >> model >> kind >> k.name;
    for (std::size_t d; s >> d;) k.shape.push_back(d);
    REQUIRE((kind == "param" || kind == "buffer"));
    (kind == "param" ? out[model].params : out[model].buffers).push_back(k);
  }
  return out;
}

template <class T>
std::vector<Key> keys_of(const std::vector<NamedTensor<T>>& ts) {
  std::vector<Key> out;
  for (const auto& t : ts) out.push_back({t.name, t.shape});
  return out;
}
std::string show(const std::vector<Key>& ks) {
  std::ostringstream os;
  for (const auto& k : ks) os << "\n  " << k;
  return os.str();
}

// Parameters and buffers each in PyTorch's order, with their shapes; together, the
// state_dict's keys (PyTorch interleaves them per module, zoo lists parameters first).
template <class M>
void check_keys(M& m, const KeyList& ref) {
  const auto params = keys_of(m.named_parameters()), buffers = keys_of(m.named_buffers());
  INFO("zoo's parameters:" << show(params) << "\nPyTorch's:" << show(ref.params));
  CHECK(params == ref.params);
  INFO("zoo's buffers:" << show(buffers) << "\nPyTorch's:" << show(ref.buffers));
  CHECK(buffers == ref.buffers);
  std::vector<std::string> zoo_sd, torch_sd;
  for (const auto& t : m.state_dict()) zoo_sd.push_back(t.name);
  for (const auto* l : {&ref.params, &ref.buffers})
    for (const auto& k : *l) torch_sd.push_back(k.name);
  std::sort(zoo_sd.begin(), zoo_sd.end());
  std::sort(torch_sd.begin(), torch_sd.end());
  CHECK(zoo_sd == torch_sd);
}

io::PtFile read_pt_gz(const std::string& file) {
  return io::parse_pt(io::read_file(dir + "/" + file), file);
}

template <class T>
void check_outputs(const io::PtFile& g_pt, const io::PtFile& d_pt, double atol) {
  test::Fixture fx("dcgan_io.txt");
  BasicModel<T, DcGenerator, Shape<96>> g(5);
  BasicModel<T, DcDiscriminator, Shape<1, 28, 28>> d(6);
  // Strict (the default): a missing or unexpected key, or a shape mismatch, throws.
  const auto rg = io::load_state_dict(g.state_dict(), g_pt.tensors, {}, g_pt.name);
  const auto rd = io::load_state_dict(d.state_dict(), d_pt.tensors, {}, d_pt.name);
  CHECK(rg.missing_keys.empty());
  CHECK(rg.unexpected_keys.empty());
  CHECK(rd.missing_keys.empty());
  CHECK(rd.unexpected_keys.empty());
  // The saved running statistics are not the defaults.
  for (const auto& b : g.named_buffers()) {
    INFO(b.name);
    if (b.name.ends_with("num_batches_tracked")) CHECK(b.data[0] == T(3));
    else if (b.name.ends_with("running_mean")) CHECK(std::any_of(b.data, b.data + b.size, [](T v) { return v != 0; }));
    else CHECK(std::any_of(b.data, b.data + b.size, [](T v) { return v != 1; }));
  }

  Tensor<T> z({4, 96}), x({4, 1, 28, 28});
  fx.copy_to("g_z", z.data());
  fx.copy_to("d_x", x.data());
  g.eval();
  test::check_close("G(z), eval", g.forward(z).data(), fx["g_y_eval"], atol, 0);
  g.train();
  test::check_close("G(z), train", g.forward(z).data(), fx["g_y_train"], atol, 0);
  d.eval();
  test::check_close("D(x)", d.forward(x).data(), fx["d_y"], atol, 0);
  d.train();  // no BatchNorm or dropout in D: the same
  test::check_close("D(x), train", d.forward(x).data(), fx["d_y"], atol, 0);
}
}  // namespace

TEST_CASE("DCGAN parameter and buffer names and shapes are the reference modules' exactly") {
  const auto ref = reference_keys();
  REQUIRE(ref.size() == 4);
  SUBCASE("generator") {
    Model<DcGenerator, Shape<96>> g;
    check_keys(g, ref.at("generator"));
  }
  SUBCASE("discriminator") {
    Model<DcDiscriminator, Shape<1, 28, 28>> d;
    check_keys(d, ref.at("discriminator"));
  }
  SUBCASE("conditional generator (net.)") {
    Model<CondDcGenerator, Shape<96>, Shape<10>> g;
    check_keys(g, ref.at("cond_generator"));
  }
  SUBCASE("conditional discriminator (net.)") {
    Model<CondDcDiscriminator, Shape<1, 28, 28>, Shape<10>> d;
    check_keys(d, ref.at("cond_discriminator"));
  }
}

TEST_CASE("the reference DCGAN's torch.save state_dicts load strictly and give PyTorch's outputs") {
  const auto g_pt = read_pt_gz("dcgan_generator.pt.gz");
  const auto d_pt = read_pt_gz("dcgan_discriminator.pt.gz");
  // The files hold the keys in PyTorch's state_dict order.
  CHECK(g_pt.tensors.size() == 23);
  CHECK(g_pt.tensors.front().name == "fc.0.weight");
  CHECK(g_pt.tensors[4].name == "fc.2.running_mean");
  CHECK(g_pt.tensors.back().name == "conv.3.bias");
  CHECK(d_pt.tensors.size() == 8);
  CHECK(d_pt.tensors.front().name == "conv.0.weight");
  CHECK(d_pt.tensors.back().name == "fc.2.bias");
  SUBCASE("float") { check_outputs<float>(g_pt, d_pt, 1e-5); }
  SUBCASE("double") { check_outputs<double>(g_pt, d_pt, 1e-10); }
}

namespace {
// The pre-issue-18 layout: one Sequential each, "0.weight" … "10.bias".
using FlatG = Sequential<Linear<1024>, ReLU, BatchNorm, Linear<7 * 7 * 128>, ReLU, BatchNorm,
                         Reshape<128, 7, 7>, ConvTranspose2d<64, 4, 2, 1>, ReLU, BatchNorm,
                         ConvTranspose2d<1, 4, 2, 1>, Tanh>;
using FlatD = Sequential<Conv2d<32, 5>, LeakyReLU<1, 100>, MaxPool2d<2, 2>, Conv2d<64, 5>,
                         LeakyReLU<1, 100>, MaxPool2d<2, 2>, Flatten, Linear<1024>,
                         LeakyReLU<1, 100>, Linear<1>>;
template <class A, class B>
bool same_bits(const A& a, const B& b) {
  return a.size == b.size && std::memcmp(a.data, b.data, a.size * sizeof(*a.data)) == 0;
}
}  // namespace

TEST_CASE("the two-half DCGAN computes bit for bit what the flat Sequential did") {
  // Same layers in the same order, so the same initialization from the same seed; each
  // half fuses its Linear + activation pairs as the flat chain did.
  Model<FlatG, Shape<96>> fg(1);
  Model<FlatD, Shape<1, 28, 28>> fd(2);
  Model<DcGenerator, Shape<96>> g(1);
  Model<DcDiscriminator, Shape<1, 28, 28>> d(2);
  GanTrainer flat(fg, fd);
  GanTrainer two(g, d);
  Tensor<float> real({16, 1, 28, 28});
  Rng r(3);
  r.fill_uniform(real.data(), real.size(), -1.0, 1.0);
  for (int i = 0; i < 2; ++i) {
    const auto a = flat.step(real), b = two.step(real);
    CHECK(a.d == b.d);
    CHECK(a.g == b.g);
  }
  CHECK(same_bits(fg.parameters(), g.parameters()));
  CHECK(same_bits(fd.parameters(), d.parameters()));
  const auto fb = fg.named_buffers(), gb = g.named_buffers();
  REQUIRE(fb.size() == gb.size());
  for (std::size_t i = 0; i < fb.size(); ++i) CHECK(same_bits(fb[i], gb[i]));
}

TEST_CASE("a checkpoint with the old flat names does not load strictly, and says why") {
  Model<FlatG, Shape<96>> flat;
  const auto g_pt = read_pt_gz("dcgan_generator.pt.gz");
  CHECK_THROWS_WITH_AS(io::load_state_dict(flat.state_dict(), g_pt.tensors, {}, g_pt.name),
                       doctest::Contains("missing: 0.weight"), IoError);
  const auto r = io::load_state_dict(flat.state_dict(), g_pt.tensors, {.strict = false}, g_pt.name);
  CHECK(r.missing_keys.size() == 23);
  CHECK(r.unexpected_keys.size() == 23);
}

// PyTorch .pt files: a torch.save'd state_dict loads and gives PyTorch's
// outputs; a pickle naming any other global is refused; broken archives and
// pickles give clear errors.
#include <doctest/doctest.h>

#include <zoo/zoo.hpp>

#include "support/fixtures.hpp"
#include "zoo/io/torch_pt.hpp"

using namespace zoo;

namespace {
using BnNet = Sequential<Linear<16>, BatchNorm, ReLU, Linear<3>>;
const std::string dir = ZOO_FIXTURE_DIR;

std::string pickle_error(std::vector<std::uint8_t> p) {
  try {
    (void)io::pickle::Unpickler(p.data(), p.size(), "x.pkl").load();
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("a torch.save state_dict loads and matches PyTorch's outputs (F32 and F64)") {
  test::Fixture fx("io_mlp.txt");
  Tensor<float> x({4, 8});
  fx.copy_to("x", x.data());
  for (const char* file : {"/io_mlp.pt", "/io_mlp_f64.pt"}) {
    INFO(file);
    Model<BnNet, Shape<8>> m(3);
    const auto r = load_pt(dir + file, m);
    CHECK(r.missing_keys.empty());
    m.eval();
    test::check_close("y", m.forward(x).data(), fx["y"], 1e-5, 0);
  }
  // The .pt and the safetensors fixture hold the same numbers.
  const auto pt = io::read_pt(dir + "/io_mlp.pt");
  CHECK(pt.tensors.size() == 9);
  CHECK(pt.tensors[0].name == "0.weight");
  CHECK(pt.tensors[0].shape == std::vector<std::size_t>{16, 8});
  CHECK(pt.tensors[0].dtype == "F32");
  CHECK(pt.tensors[6].name == "1.num_batches_tracked");
  CHECK(pt.tensors[6].dtype == "I64");
  CHECK(pt.tensors[6].shape.empty());
}

TEST_CASE("a pickle naming os.system is refused") {
  Model<BnNet, Shape<8>> m(3);
  CHECK_THROWS_WITH(load_pt(dir + "/io_evil.pt", m), doctest::Contains("refusing global posix.system"));
  // GLOBAL with the classic spelling, and STACK_GLOBAL of builtins.eval.
  const std::string g = "\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls" "\x85R.";
  CHECK(pickle_error({g.begin(), g.end()}).find("refusing global os.system") != std::string::npos);
  const std::string s = "\x80\x04\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93.";
  CHECK(pickle_error({s.begin(), s.end()}).find("refusing global builtins.eval") != std::string::npos);
  // An allowed global that is not a callable is not called either.
  const std::string c = "\x80\x02" "ctorch\nFloatStorage\n" ")R.";
  CHECK(pickle_error({c.begin(), c.end()}).find("refusing to call torch.FloatStorage") != std::string::npos);
}

TEST_CASE("broken pickles and archives give clear errors") {
  auto err = [](std::string s) { return pickle_error({s.begin(), s.end()}); };
  CHECK(err("\x80\x02}").find("ends without STOP") != std::string::npos);
  CHECK(err("\x80\x02X\xff\xff\xff\x7f").find("runs past the end") != std::string::npos);
  CHECK(err("\x80\x02h\x05.").find("memo key 5 was never stored") != std::string::npos);
  CHECK(err("\x80\x02.").find("stack underflow") != std::string::npos);
  CHECK(err("\x80\x02u.").find("no MARK") != std::string::npos);
  CHECK(err("\x80\x02(s.").find("stack underflow") != std::string::npos);
  CHECK(err("\x80\x02K\x01K\x02" "a.").find("wrong kind of object") != std::string::npos);
  CHECK(err("\x80\x02i.").find("unsupported pickle opcode 0x69") != std::string::npos);
  CHECK(err(std::string("\x80\x02}K\x01}\x00.", 8)).find("unsupported pickle opcode 0x00") != std::string::npos);
  CHECK(err(std::string("\x80\x02}Q.", 5)).find("unsupported persistent id") != std::string::npos);

  auto bytes = io::read_raw(dir + "/io_mlp.pt");
  auto zip_err = [](std::vector<std::uint8_t> b) {
    try {
      (void)io::parse_pt(std::move(b), "m.pt");
    } catch (const IoError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(zip_err(bytes) == "(no error)");
  CHECK(zip_err({bytes.begin(), bytes.begin() + 100}).find("no end-of-central-directory") != std::string::npos);
  CHECK(zip_err({0x80, 2, 'K', 1, '.'}).find("too short") != std::string::npos);
  // Found by fuzz_pt: a ZIP64 locator in a 50-byte file (n − 56 wrapped around).
  CHECK(zip_err(io::read_raw(dir + "/io_fuzz_pt_zip64.bin")).find("bad ZIP64 end record") != std::string::npos);
  {
    auto b = bytes;  // central directory offset far past the end (no ZIP64 locator in play)
    const std::size_t eocd = b.size() - 22;
    REQUIRE(b[eocd] == 'P');
    b[eocd + 16] = 0xfe, b[eocd + 17] = 0xff, b[eocd + 18] = 0xff, b[eocd + 19] = 0x7f;
    CHECK(zip_err(b).find("outside the file") != std::string::npos);
  }
  {
    auto b = bytes;  // a storage's size in the central directory made huge
    const std::size_t eocd = b.size() - 22;
    std::size_t cd = b[eocd + 16] | b[eocd + 17] << 8 | b[eocd + 18] << 16 | std::size_t(b[eocd + 19]) << 24;
    for (int k = 0; k < 4; ++k) b[cd + 20 + k] = b[cd + 24 + k] = 0x7f;
    CHECK(zip_err(b).find("runs past the end of the file") != std::string::npos);
  }
  {
    auto b = bytes;  // truncated storage bytes: tensors run past their storage
    const std::size_t eocd = b.size() - 22;
    std::size_t cd = b[eocd + 16] | b[eocd + 17] << 8 | b[eocd + 18] << 16 | std::size_t(b[eocd + 19]) << 24;
    // walk to the entry of data/0 (the second entry) and shrink its size
    std::size_t p = cd;
    p += 46 + (b[p + 28] | b[p + 29] << 8) + (b[p + 30] | b[p + 31] << 8) + (b[p + 32] | b[p + 33] << 8);
    b[p + 20] = b[p + 24] = 16, b[p + 21] = b[p + 25] = 0, b[p + 22] = b[p + 26] = 0, b[p + 23] = b[p + 27] = 0;
    CHECK(zip_err(b).find("runs past its storage (16 bytes)") != std::string::npos);
  }
}

// zoo::profile (core/profile.hpp): with ZOO_PROFILE defined, every node of a Graph or
// Sequential is timed, one row per node instance, named by its path from the outermost
// graph; leaves are told from containers; calls are counted per pass; a node fused
// into the one before it gets no row of its own; clear() starts over.
#define ZOO_PROFILE
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>
#include <zoo/zoo.hpp>

using namespace zoo;

namespace {
using Block = Graph<Node<"conv", Conv2d<4, 3, 1, 1>>, Node<"bn", BatchNorm>, Node<"act", SiLU>>;
using Net = Graph<Node<"stem", Block>,                                   //
                  Node<"mlp", Sequential<Flatten, Linear<8>, ReLU, Linear<3>>>>;

const profile::Row* find(const std::vector<profile::Row>& rows, const std::string& path) {
  for (const auto& r : rows)
    if (r.path == path) return &r;
  return nullptr;
}
}  // namespace

TEST_CASE("profile: a row per node, named by its path, with its calls") {
  Model<Net, Shape<2, 5, 5>> m(1);
  Tensor<float> x({3, 2, 5, 5});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 7) - 3;
  profile::clear();
  for (int step = 0; step < 2; ++step) {
    const auto& y = m.forward(x);
    Tensor<float> dy(y.shape());
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = 0.1f;
    m.backward(dy);
  }
  const auto all = profile::rows(false), leaves = profile::rows();
  const auto* conv = find(leaves, "stem.conv");
  REQUIRE(conv != nullptr);
  CHECK(conv->kind == "Conv2d");
  CHECK(conv->fwd_calls == 2);
  CHECK(conv->bwd_calls == 2);
  CHECK(conv->fwd_s > 0);
  // bn and act run as one node (BatchNorm's forward_then): the act has no row.
  const auto* bn = find(leaves, "stem.bn");
  REQUIRE(bn != nullptr);
  CHECK(bn->fwd_calls == 2);
  CHECK(bn->bwd_calls == 2);
  CHECK(find(all, "stem.act") == nullptr);
  // A Sequential's layers are named by index; the first Linear computes ReLU's output too,
  // but ReLU's backward runs on its own.
  const auto* l1 = find(leaves, "mlp.1");
  REQUIRE(l1 != nullptr);
  CHECK(l1->kind == "Linear");
  const auto* relu = find(leaves, "mlp.2");
  REQUIRE(relu != nullptr);
  CHECK(relu->fwd_calls == 0);
  CHECK(relu->bwd_calls == 2);
  // Containers are rows too, but not leaves; their time holds their nodes'.
  const auto* stem = find(all, "stem");
  REQUIRE(stem != nullptr);
  CHECK_FALSE(stem->leaf);
  CHECK(find(leaves, "stem") == nullptr);
  CHECK(stem->fwd_s >= conv->fwd_s);
  // First-run order: the stem's nodes before the MLP's.
  std::size_t i_conv = 0, i_l1 = 0;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].path == "stem.conv") i_conv = i;
    if (leaves[i].path == "mlp.1") i_l1 = i;
  }
  CHECK(i_conv < i_l1);
  std::FILE* f = std::tmpfile();
  profile::report(f);
  CHECK(std::ftell(f) > 0);
  std::fclose(f);
  profile::clear();
  CHECK(profile::rows(false).empty());
}

// A node's time outside the library's parallel regions ("1t" in the report): all of it for
// a call below the parallel grain, and at most about the rest of the call for one that
// runs in a region (on two threads; with one thread no region opens and all is serial).
TEST_CASE("profile: time outside parallel regions") {
  using Big = Graph<Node<"act", SiLU>>;
  Model<Big, Shape<64, 64, 64>> m(1);  // 262 144 values a sample: above parallel_for's grain
  Tensor<float> x({2, 64, 64, 64});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i % 13) * 0.1f - 0.6f;
  profile::clear();
  for (int step = 0; step < 3; ++step) m.forward(x);
  const auto rows = profile::rows();
  const auto* act = find(rows, "act");
  REQUIRE(act != nullptr);
  CHECK(act->fwd_serial_s >= 0);
  CHECK(act->fwd_serial_s <= act->fwd_s);
  if (num_threads() > 1) CHECK(act->fwd_serial_s < 0.5 * act->fwd_s);
  else CHECK(act->fwd_serial_s == doctest::Approx(act->fwd_s));

  // A parallel region timed by hand: its span is not serial, the rest is.
  profile::clear();
  {
    profile::Scope s(&m, "manual", "Manual", true, false);
    {
      profile::Region r;
      volatile double sink = 0;
      for (int i = 0; i < 2000000; ++i) sink = sink + 1e-9 * i;
    }
  }
  const auto manual_rows = profile::rows();
  const auto* manual = find(manual_rows, "manual");
  REQUIRE(manual != nullptr);
  CHECK(manual->fwd_s > 0);
  CHECK(manual->fwd_serial_s < 0.2 * manual->fwd_s);
  profile::clear();
}

// PNG output: make_grid's layout and value mapping (as torchvision), PNG bytes
// that decode back to the same pixels, and plots that draw what they claim.
// Set ZOO_PNG_OUT=dir to keep the pictures for looking at.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "zoo/core/rng.hpp"
#include "zoo/io/png.hpp"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

using namespace zoo;
using io::Image;
using io::Rgb;

namespace {
std::string out_dir() {
  const char* e = std::getenv("ZOO_PNG_OUT");
  std::string d = e ? e : (std::filesystem::temp_directory_path() / ("zoo_png_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(d);
  return d;
}
std::size_t count_color(const Image& im, Rgb c) {
  std::size_t n = 0;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) {
      const auto p = im.get(x, y);
      n += p.r == c.r && p.g == c.g && p.b == c.b;
    }
  return n;
}
}  // namespace

TEST_CASE("make_grid lays out images as torchvision does") {
  Tensor<float> x({5, 1, 3, 4});  // 5 images 3x4, image i filled with i/4
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = 0; j < 12; ++j) x[i * 12 + j] = static_cast<float>(i) / 4;
  const Image g = io::make_grid(x, {.nrow = 2, .padding = 2, .pad_value = 1.0f});
  // cols = 2, rows = 3: width 2*(4+2)+2 = 14, height 3*(3+2)+2 = 17
  CHECK(g.width == 14);
  CHECK(g.height == 17);
  CHECK(g.get(0, 0).r == 255);                 // padding
  CHECK(g.get(2, 2).r == 0);                   // image 0
  CHECK(g.get(2 + 6, 2).r == 64);              // image 1: round(0.25 * 255)
  CHECK(g.get(2 + 6, 2 + 5 * 2).r == 255);     // image 5 does not exist: padding
  CHECK(g.get(2, 2 + 5 * 2).r == 255);         // image 4 = 1.0
  CHECK(g.get(7, 2).r == 255);                 // the gap between columns

  // normalize over value_range [-1, 1]: -1 → 0, 0 → 128, 1 → 255; values clamp.
  Tensor<float> y({1, 4});
  y[0] = -1, y[1] = 0, y[2] = 1, y[3] = 7;
  const Image n = io::make_grid(y, {.padding = 0, .normalize = true, .value_range = std::pair{-1.0f, 1.0f}}, 2, 2);
  CHECK(n.get(0, 0).r == 0);
  CHECK(n.get(1, 0).r == 128);
  CHECK(n.get(0, 1).r == 255);
  CHECK(n.get(1, 1).r == 255);
  // normalize by the data's own min..max
  const Image m = io::make_grid(y, {.padding = 0, .normalize = true}, 2, 2);
  CHECK(m.get(0, 0).r == 0);
  CHECK(m.get(1, 1).r == 255);
  CHECK(m.get(0, 1).r == 64);  // (1+1)/8 * 255 = 63.75

  CHECK_THROWS_AS(io::make_grid(y), std::invalid_argument);  // flat without h, w
}

TEST_CASE("PNG bytes decode back to the same pixels") {
  Image im(7, 5);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x) im.set(x, y, {std::uint8_t(x * 30), std::uint8_t(y * 50), 77});
  const auto png = io::encode_png(im);
  REQUIRE(png.size() > 8);
  CHECK(png[1] == 'P');
  int w = 0, h = 0, c = 0;
  unsigned char* d = stbi_load_from_memory(png.data(), static_cast<int>(png.size()), &w, &h, &c, 3);
  REQUIRE(d);
  CHECK(w == 7);
  CHECK(h == 5);
  CHECK(std::equal(im.rgb.begin(), im.rgb.end(), d));
  stbi_image_free(d);
}

TEST_CASE("ticks are round numbers that cover the range") {
  const auto t = io::draw::ticks(0.03, 2.4);
  REQUIRE(t.size() >= 3);
  CHECK(t.front() >= 0.03);
  CHECK(t.back() <= 2.4 + 1e-12);
  CHECK(t[1] - t[0] == doctest::Approx(0.5));
  CHECK(io::draw::tick_label(0.5) == "0.5");
  CHECK(io::draw::tick_label(1500) == "1500");
}

TEST_CASE("line plot and scatter plot draw their data") {
  const auto dir = out_dir();
  io::Series a{"train", {}, {}}, b{"test", {}, {}};
  for (int i = 0; i < 300; ++i) {
    a.y.push_back(2.3 * std::exp(-i / 60.0) + 0.1 + 0.05 * std::sin(i * 0.7));
    if (i % 30 == 0) b.x.push_back(i), b.y.push_back(2.3 * std::exp(-i / 60.0) + 0.25);
  }
  const Image lp = io::line_plot({a, b}, {.title = "MLP autoencoder: MSE loss"});
  CHECK(count_color(lp, io::draw::palette(0)) > 300);  // the curve is drawn
  CHECK(count_color(lp, io::draw::palette(1)) > 100);
  CHECK(count_color(lp, {0, 0, 0}) > 500);  // axes, ticks and labels
  io::save_png(dir + "/line_plot.png", lp);
  io::save_line_plot(dir + "/line_plot_log.png", {a, b}, {.title = "log scale", .log_y = true});

  // 3 clusters in 2-D and 10 in 3-D.
  Rng rng(1);
  Tensor<float> c2({300, 2}), c3({1000, 3});
  std::vector<int> l2, l3;
  for (std::size_t i = 0; i < 300; ++i) {
    const int k = static_cast<int>(i % 3);
    c2[2 * i] = static_cast<float>(k * 3 + rng.normal() * 0.6);
    c2[2 * i + 1] = static_cast<float>((k == 1) * 4 + rng.normal() * 0.6);
    l2.push_back(k);
  }
  for (std::size_t i = 0; i < 1000; ++i) {
    const int k = static_cast<int>(i % 10);
    for (int j = 0; j < 3; ++j)
      c3[3 * i + j] = static_cast<float>(std::cos(k * 0.63 + j * 2.1) * 5 + rng.normal() * 0.7);
    l3.push_back(k);
  }
  const Image s2 = io::scatter_plot(c2, l2, {.title = "2-d codes"});
  for (int k = 0; k < 3; ++k) CHECK(count_color(s2, io::draw::palette(k)) > 500);
  CHECK(count_color(s2, io::draw::palette(3)) == 0);
  io::save_png(dir + "/scatter2d.png", s2);
  const Image s3 = io::scatter_plot(c3, l3, {.title = "3-d codes of the MLP autoencoder"});
  CHECK(s3.width >= 1260);
  for (int k = 0; k < 10; ++k) CHECK(count_color(s3, io::draw::palette(k)) > 200);
  io::save_png(dir + "/scatter3d.png", s3);

  Tensor<float> imgs({16, 1, 28, 28});
  for (std::size_t i = 0; i < 16; ++i)
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const double r = std::hypot(x - 13.5, y - 13.5);
        imgs[i * 784 + y * 28 + x] = static_cast<float>(std::cos(r * (0.2 + i * 0.05)));
      }
  io::save_image(imgs, dir + "/grid.png", {.nrow = 4, .normalize = true, .value_range = std::pair{-1.0f, 1.0f}});
  CHECK(std::filesystem::file_size(dir + "/grid.png") > 100);
  CHECK_THROWS_AS(io::scatter_plot(c2, l3), std::invalid_argument);
  if (!std::getenv("ZOO_PNG_OUT")) std::filesystem::remove_all(dir);
}

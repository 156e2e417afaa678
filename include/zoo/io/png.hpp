// zoo/io/png.hpp — pictures of a run: image grids (torchvision.utils.make_grid /
// save_image), line plots of training curves, and scatter plots of 2-D/3-D codes
// coloured by label. PNG encoding is stb_image_write's; axes, ticks and text are
// drawn here with a tiny rasterizer and a built-in 3x5 bitmap font.
//
// stb: this header compiles stb_image_write with STB_IMAGE_WRITE_STATIC, so every
// translation unit that includes it gets its own private copy and any number of
// them link together with no flags. If you include <stb/stb_image_write.h>
// yourself *before* this header, zoo uses your declarations and you provide the
// implementation (your own STB_IMAGE_WRITE_IMPLEMENTATION unit, or -lstb on Debian).
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifndef INCLUDE_STB_IMAGE_WRITE_H
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#endif

#include "../core/tensor.hpp"
#include "error.hpp"
#include "file.hpp"

namespace zoo::io {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// An 8-bit RGB image, row-major (H, W, 3).
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
  Image() = default;
  Image(int w, int h, Rgb fill = {255, 255, 255}) : width(w), height(h), rgb(std::size_t(w) * h * 3) {
    for (std::size_t i = 0; i < rgb.size(); i += 3) rgb[i] = fill.r, rgb[i + 1] = fill.g, rgb[i + 2] = fill.b;
  }
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;  // drawing clips
    std::uint8_t* p = &rgb[(std::size_t(y) * width + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  Rgb get(int x, int y) const {
    const std::uint8_t* p = &rgb[(std::size_t(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
  }
};

// PNG bytes of an image.
inline std::vector<std::uint8_t> encode_png(const Image& im) {
  if (im.width <= 0 || im.height <= 0 || im.rgb.size() != std::size_t(im.width) * im.height * 3)
    throw std::invalid_argument("zoo::io::encode_png: empty or inconsistent image");
  std::vector<std::uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(sink, &out, im.width, im.height, 3, im.rgb.data(), im.width * 3))
    throw std::runtime_error("zoo::io::encode_png: stb_image_write failed");
  return out;
}
inline void save_png(const std::string& path, const Image& im) { write_atomic(path, encode_png(im)); }

// ------------------------------------------------------------------ image grids
struct GridOptions {
  std::size_t nrow = 8;  // images per row, as torchvision
  int padding = 2;
  bool normalize = false;  // map value_range (or the data's min..max) to [0, 1]
  std::optional<std::pair<float, float>> value_range;
  bool scale_each = false;  // normalize each image by its own min..max
  float pad_value = 0;
};

// Tiles a batch (N, C, H, W) with C = 1 or 3 — or (N, H*W) with `h`, `w` given —
// into one picture, as torchvision's make_grid followed by save_image's
// round(255·v) with clamping.
inline Image make_grid(const Tensor<float>& x, GridOptions o = {}, std::size_t h = 0,
                       std::size_t w = 0) {
  std::size_t n = x.batch(), c = 1;
  if (x.rank() == 4) c = x.dim(1), h = x.dim(2), w = x.dim(3);
  else if (x.rank() == 3) h = x.dim(1), w = x.dim(2);
  else if (h == 0 || w == 0 || x.sample_size() != h * w)
    throw std::invalid_argument("zoo::io::make_grid: pass (N, C, H, W), or (N, H*W) with h and w; got " +
                                x.shape_str());
  if (n == 0 || (c != 1 && c != 3))
    throw std::invalid_argument("zoo::io::make_grid: need N >= 1 images of 1 or 3 channels, got " +
                                x.shape_str());
  const std::size_t cols = std::min(o.nrow ? o.nrow : 1, n), rows = (n + cols - 1) / cols;
  const int P = o.padding, H = static_cast<int>(h), W = static_cast<int>(w);
  const int gw = static_cast<int>(cols) * (W + P) + P, gh = static_cast<int>(rows) * (H + P) + P;
  const auto pv = static_cast<std::uint8_t>(std::clamp(std::lround(o.pad_value * 255.0f), 0L, 255L));
  Image g(gw, gh, {pv, pv, pv});
  auto minmax = [&](const float* p, std::size_t len) {
    auto [a, b] = std::minmax_element(p, p + len);
    return std::pair<float, float>{*a, *b};
  };
  std::pair<float, float> all = o.value_range ? *o.value_range : minmax(x.data(), x.size());
  const std::size_t per = c * h * w;
  for (std::size_t i = 0; i < n; ++i) {
    const float* img = x.data() + i * per;
    auto [lo, hi] = o.scale_each && !o.value_range ? minmax(img, per) : all;
    const float s = hi > lo ? 1.0f / (hi - lo) : 1.0f;
    const int ox = P + static_cast<int>(i % cols) * (W + P), oy = P + static_cast<int>(i / cols) * (H + P);
    for (int y = 0; y < H; ++y)
      for (int xx = 0; xx < W; ++xx) {
        std::uint8_t v[3];
        for (std::size_t ch = 0; ch < 3; ++ch) {
          float t = img[(c == 3 ? ch : 0) * h * w + std::size_t(y) * w + xx];
          if (o.normalize) t = (std::clamp(t, lo, hi) - lo) * s;
          v[ch] = static_cast<std::uint8_t>(std::clamp(t * 255.0f + 0.5f, 0.0f, 255.0f));
        }
        g.set(ox + xx, oy + y, {v[0], v[1], v[2]});
      }
  }
  return g;
}
inline void save_image(const Tensor<float>& x, const std::string& path, GridOptions o = {},
                       std::size_t h = 0, std::size_t w = 0) {
  save_png(path, make_grid(x, o, h, w));
}

// ------------------------------------------------------------------ drawing
namespace draw {

// 3x5 glyphs, rows top to bottom, 3 bits each (bit 2 = left column).
inline const std::array<std::uint8_t, 5>* glyph(char ch) {
  struct G {
    char c;
    std::array<std::uint8_t, 5> rows;
  };
  static const G font[] = {
      {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
      {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 2, 2, 2}},
      {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
      {'+', {0, 2, 7, 2, 0}}, {':', {0, 2, 0, 2, 0}}, {'/', {1, 1, 2, 4, 4}}, {'_', {0, 0, 0, 0, 7}},
      {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}}, {'=', {0, 7, 0, 7, 0}}, {',', {0, 0, 0, 2, 4}},
      {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}},
      {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},
      {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
      {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}},
      {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}}, {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},
      {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
      {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
  };
  if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  for (const auto& g : font)
    if (g.c == ch) return &g.rows;
  return nullptr;  // space and unknown characters draw nothing
}

// Text with its top-left corner at (x, y); each font pixel is `scale` pixels.
inline void text(Image& im, int x, int y, const std::string& s, Rgb c, int scale = 2) {
  for (char ch : s) {
    if (const auto* g = glyph(ch))
      for (int r = 0; r < 5; ++r)
        for (int col = 0; col < 3; ++col)
          if ((*g)[r] >> (2 - col) & 1)
            for (int dy = 0; dy < scale; ++dy)
              for (int dx = 0; dx < scale; ++dx) im.set(x + col * scale + dx, y + r * scale + dy, c);
    x += 4 * scale;
  }
}
inline int text_width(const std::string& s, int scale = 2) {
  return s.empty() ? 0 : static_cast<int>(s.size()) * 4 * scale - scale;
}

inline void line(Image& im, int x0, int y0, int x1, int y1, Rgb c) {  // Bresenham
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1,
            sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    im.set(x0, y0, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}
inline void thick_line(Image& im, int x0, int y0, int x1, int y1, Rgb c) {
  line(im, x0, y0, x1, y1, c);
  line(im, x0, y0 + 1, x1, y1 + 1, c);
}
inline void disc(Image& im, int cx, int cy, int r, Rgb c) {
  for (int y = -r; y <= r; ++y)
    for (int x = -r; x <= r; ++x)
      if (x * x + y * y <= r * r + r) im.set(cx + x, cy + y, c);
}
inline void rect(Image& im, int x0, int y0, int x1, int y1, Rgb c) {
  line(im, x0, y0, x1, y0, c), line(im, x1, y0, x1, y1, c);
  line(im, x1, y1, x0, y1, c), line(im, x0, y1, x0, y0, c);
}

// matplotlib's tab10: distinguishable colours for 10 classes.
inline Rgb palette(std::size_t i) {
  static const Rgb p[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                            {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                            {188, 189, 34},  {23, 190, 207}};
  return p[i % 10];
}

// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
inline std::vector<double> ticks(double lo, double hi, int target = 6) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag, step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}
inline std::string tick_label(double v) {
  char s[32];
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) std::snprintf(s, sizeof s, "%.0e", v);
  else std::snprintf(s, sizeof s, "%.4g", v);
  return s;
}

// A plotting frame: data [x0,x1]x[y0,y1] mapped into a pixel box, with ticks.
struct Axes {
  int left, top, right, bottom;
  double x0, x1, y0, y1;
  bool log_y = false;
  int px(double x) const { return left + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (right - left))); }
  int py(double y) const {
    if (log_y) y = std::log10(std::max(y, 1e-300));
    return bottom - static_cast<int>(std::lround((y - y0) / (y1 - y0) * (bottom - top)));
  }
  void draw(Image& im, const std::string& xlabel, const std::string& ylabel) const {
    const Rgb ink{0, 0, 0}, grid{225, 225, 225};
    for (double t : ticks(x0, x1)) {
      const int x = px(t);
      line(im, x, top, x, bottom, grid);
      line(im, x, bottom, x, bottom + 4, ink);
      const auto s = tick_label(t);
      text(im, x - text_width(s) / 2, bottom + 8, s, ink);
    }
    std::vector<double> yt;
    if (log_y) {  // 1, 2, 5 × 10^k, as positions in log10 units
      for (int k = static_cast<int>(std::floor(y0)); k <= static_cast<int>(std::ceil(y1)); ++k)
        for (double m : {1.0, 2.0, 5.0}) {
          const double t = k + std::log10(m);
          if (t >= y0 && t <= y1) yt.push_back(t);
        }
    }
    if (yt.size() < 2) yt = ticks(y0, y1);
    for (double t : yt) {
      const int y = bottom - static_cast<int>(std::lround((t - y0) / (y1 - y0) * (bottom - top)));
      line(im, left, y, right, y, grid);
      line(im, left - 4, y, left, y, ink);
      const auto s = log_y ? tick_label(std::round(std::pow(10.0, t) * 1e6) / 1e6) : tick_label(t);
      text(im, left - 8 - text_width(s), y - 5, s, ink);
    }
    rect(im, left, top, right, bottom, ink);
    text(im, (left + right - text_width(xlabel)) / 2, bottom + 24, xlabel, ink);
    text(im, std::max(2, left - 30), top - 16, ylabel, ink);
  }
};

}  // namespace draw

// ------------------------------------------------------------------ line plots
struct Series {
  std::string name;
  std::vector<double> x, y;  // x empty: 0, 1, 2, …
};
struct PlotOptions {
  int width = 800, height = 500;
  std::string title, xlabel = "step", ylabel = "loss";
  bool log_y = false;
};

// Training curves: one coloured polyline per series, axes with ticks, a legend.
inline Image line_plot(const std::vector<Series>& series, PlotOptions o = {}) {
  Image im(o.width, o.height);
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      const double x = s.x.empty() ? double(i) : s.x[i];
      double y = s.y[i];
      if (!std::isfinite(y) || (o.log_y && y <= 0)) continue;
      if (o.log_y) y = std::log10(y);
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (!(x1 >= x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pad = (y1 - y0) * 0.05;
  draw::Axes ax{90, 40, o.width - 20, o.height - 50, x0, x1, y0 - pad, y1 + pad, o.log_y};
  ax.draw(im, o.xlabel, o.ylabel);
  draw::text(im, (o.width - draw::text_width(o.title)) / 2, 10, o.title, {0, 0, 0});
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const auto c = draw::palette(k);
    bool have = false;
    int lx = 0, ly = 0;
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (o.log_y && s.y[i] <= 0)) {
        have = false;
        continue;
      }
      const int X = ax.px(s.x.empty() ? double(i) : s.x[i]), Y = ax.py(s.y[i]);
      if (have) draw::thick_line(im, lx, ly, X, Y, c);
      else if (s.y.size() == 1) draw::disc(im, X, Y, 2, c);
      lx = X, ly = Y, have = true;
    }
    const int ly0 = ax.top + 10 + 16 * static_cast<int>(k);
    draw::thick_line(im, ax.right - 150, ly0 + 4, ax.right - 130, ly0 + 4, c);
    draw::text(im, ax.right - 124, ly0, s.name, {0, 0, 0});
  }
  return im;
}
inline void save_line_plot(const std::string& path, const std::vector<Series>& s, PlotOptions o = {}) {
  save_png(path, line_plot(s, o));
}

// ------------------------------------------------------------------ scatter plots
// Codes (N, 2) or (N, 3) coloured by label (tab10 colours, legend of labels).
// 3-D codes are shown as three panels, one per pair of axes (z0-z1, z0-z2, z1-z2).
inline Image scatter_plot(const Tensor<float>& codes, const std::vector<int>& labels,
                          PlotOptions o = {}) {
  const std::size_t n = codes.batch(), d = codes.sample_size();
  if (codes.rank() != 2 || (d != 2 && d != 3) || labels.size() != n)
    throw std::invalid_argument("zoo::io::scatter_plot: need codes (N, 2) or (N, 3) and N labels; got " +
                                codes.shape_str() + " and " + std::to_string(labels.size()) +
                                " labels");
  const std::vector<std::pair<int, int>> pairs =
      d == 2 ? std::vector<std::pair<int, int>>{{0, 1}} : std::vector<std::pair<int, int>>{{0, 1}, {0, 2}, {1, 2}};
  const int panels = static_cast<int>(pairs.size());
  const int W = d == 2 ? std::max(o.width, 560) : std::max(o.width, 1260);
  const int H = d == 2 ? std::max(o.height, 560) : std::max(o.height, 500);
  Image im(W, H);
  draw::text(im, (W - draw::text_width(o.title)) / 2, 8, o.title, {0, 0, 0});
  const int legend_w = 60, pw = (W - legend_w) / panels;
  for (int p = 0; p < panels; ++p) {
    const auto [a, b] = pairs[p];
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (std::size_t i = 0; i < n; ++i) {
      const double u = codes[i * d + a], v = codes[i * d + b];
      if (!std::isfinite(u) || !std::isfinite(v)) continue;
      x0 = std::min(x0, u), x1 = std::max(x1, u), y0 = std::min(y0, v), y1 = std::max(y1, v);
    }
    if (!(x1 >= x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    const double mx = std::max((x1 - x0) * 0.05, 1e-6), my = std::max((y1 - y0) * 0.05, 1e-6);
    draw::Axes ax{p * pw + 80, 40, (p + 1) * pw - 15, H - 50, x0 - mx, x1 + mx, y0 - my, y1 + my};
    std::string xl = "code ", yl = "code ";  // "z" would read as "2" in the 3x5 font
    xl += std::to_string(a);
    yl += std::to_string(b);
    ax.draw(im, xl, yl);
    for (std::size_t i = 0; i < n; ++i) {
      const double u = codes[i * d + a], v = codes[i * d + b];
      if (std::isfinite(u) && std::isfinite(v))
        draw::disc(im, ax.px(u), ax.py(v), 2, draw::palette(static_cast<std::size_t>(std::max(labels[i], 0))));
    }
  }
  int maxl = 0;
  for (int l : labels) maxl = std::max(maxl, l);
  for (int l = 0; l <= std::min(maxl, 9); ++l) {
    const int y = 50 + 20 * l;
    draw::disc(im, W - legend_w + 10, y + 5, 5, draw::palette(static_cast<std::size_t>(l)));
    draw::text(im, W - legend_w + 22, y, std::to_string(l), {0, 0, 0});
  }
  return im;
}
inline void save_scatter_plot(const std::string& path, const Tensor<float>& codes,
                              const std::vector<int>& labels, PlotOptions o = {}) {
  save_png(path, scatter_plot(codes, labels, o));
}

}  // namespace zoo::io

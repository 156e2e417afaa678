// zoo/io/image.hpp — reading pictures (PNG, JPEG, BMP, GIF, TGA…) into 8-bit RGB, and
// resampling them: what a detector's `detect` mode and a YOLO-format data set need.
//
//   zoo::io::Image im = zoo::io::read_image("photo.jpg");       // (H, W, 3) bytes
//   auto sq = zoo::io::letterbox(im, 128);                       // 128x128, aspect kept
//
// Decoding is stb_image's, always asked for 3 channels (grey is repeated, alpha dropped,
// 16-bit PNGs are reduced to 8 bits). An unreadable, truncated or non-image file throws
// zoo::IoError naming the file and stb's reason. The file is read whole first (io::read_raw,
// with a size limit) and its header checked (stbi_info) before anything is decoded, so a
// header that claims 60000 x 60000 pixels is refused by its size, not by running out of
// memory.
//
// Resampling (`resize_rgb`) is separable: along an axis that shrinks, each output pixel is
// the area-weighted average of the source pixels it covers (OpenCV's INTER_AREA, which
// YOLOv5 uses when it shrinks an image); along an axis that grows, bilinear interpolation
// with pixel centres at i + 0.5 (INTER_LINEAR, align_corners = False). `letterbox` scales by
// r = min(S/w, S/h), keeps the aspect ratio and centres the result on an S x S canvas of grey
// 114, as YOLOv5's letterbox(auto=False); `Letterbox` says where the picture went, so boxes
// can follow it.
//
// stb: this header compiles stb_image with STB_IMAGE_STATIC (a private copy in each
// translation unit, as png.hpp does for stb_image_write). If you include
// <stb/stb_image.h> yourself before this header, zoo uses your declarations and you
// provide the implementation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#ifndef STBI_INCLUDE_STB_IMAGE_H
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wshadow"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
#undef STB_IMAGE_IMPLEMENTATION
#endif

#include "error.hpp"
#include "file.hpp"
#include "png.hpp"

namespace zoo::io {

// 256 MiB of file and 2^26 pixels (8192 x 8192): far above any picture a detector of this
// size reads, far below what would exhaust memory.
inline constexpr std::size_t image_max_file_bytes = std::size_t{256} << 20;
inline constexpr std::size_t image_max_pixels = std::size_t{1} << 26;

// Decodes an image held in memory into RGB bytes; `name` is used in error messages.
inline Image decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                          std::size_t max_pixels = image_max_pixels) {
  if (bytes.empty()) throw IoError(name, "not an image: the file is empty");
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX))
    throw IoError(name, "not an image: the file is over 2 GiB");
  const auto len = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &c))
    throw IoError(name, std::string("not a readable image (stb_image: ") + stbi_failure_reason() + ")");
  if (w <= 0 || h <= 0 || std::size_t(w) * std::size_t(h) > max_pixels)
    throw IoError(name, "image of " + std::to_string(w) + "x" + std::to_string(h) +
                            " pixels is over the limit of " + std::to_string(max_pixels) + " pixels");
  unsigned char* p = stbi_load_from_memory(bytes.data(), len, &w, &h, &c, 3);
  if (!p)
    throw IoError(name, std::string("cannot decode the image (stb_image: ") + stbi_failure_reason() +
                            "; truncated or corrupt?)");
  Image im;
  im.width = w, im.height = h;
  im.rgb.assign(p, p + std::size_t(w) * std::size_t(h) * 3);
  stbi_image_free(p);
  return im;
}

// Reads a picture file into RGB bytes (H, W, 3).
inline Image read_image(const std::string& path, std::size_t max_pixels = image_max_pixels) {
  const auto bytes = read_raw(path, image_max_file_bytes);
  return decode_image(bytes, path, max_pixels);
}

namespace detail {
// Resampling taps of one axis, as exact integers: output i reads src[first[i] + k] with
// weight w[i*taps + k] / den. Integer weights make resize_bytes give the same bytes under
// every compiler and flag (floating point would change with FMA contraction).
struct AxisTaps {
  std::size_t taps = 0;
  std::int64_t den = 1;
  std::vector<int> first;
  std::vector<std::int64_t> w;
};
inline AxisTaps axis_taps(int src, int dst) {
  AxisTaps t;
  t.first.resize(dst);
  if (src > dst) {  // shrink: area average; output i covers [i·src, (i+1)·src) in units of 1/dst source pixel
    t.taps = static_cast<std::size_t>((src + dst - 1) / dst) + 1;
    t.den = src;
    t.w.assign(std::size_t(dst) * t.taps, 0);
    for (int i = 0; i < dst; ++i) {
      const std::int64_t a = std::int64_t(i) * src, b = a + src;
      const int f = static_cast<int>(a / dst);
      t.first[i] = f;
      for (std::size_t k = 0; k < t.taps && f + int(k) < src; ++k) {
        const std::int64_t lo = std::max<std::int64_t>(a, std::int64_t(f + int(k)) * dst);
        const std::int64_t hi = std::min<std::int64_t>(b, std::int64_t(f + int(k) + 1) * dst);
        if (hi > lo) t.w[i * t.taps + k] = hi - lo;
      }
    }
  } else {  // grow (or keep): bilinear at x = ((2i+1)·src − dst) / (2·dst), clamped at the edges
    t.taps = 2;
    t.den = 2 * std::int64_t(dst);
    t.w.assign(std::size_t(dst) * 2, 0);
    for (int i = 0; i < dst; ++i) {
      const std::int64_t num = std::max<std::int64_t>(0, std::int64_t(2 * i + 1) * src - dst);
      std::int64_t f = num / t.den, r = num % t.den;
      if (f >= src - 1) f = src - 1, r = 0;
      t.first[i] = static_cast<int>(f);
      t.w[i * 2] = t.den - r;
      t.w[i * 2 + 1] = r;
    }
  }
  return t;
}
}  // namespace detail

// Resamples interleaved bytes (sh, sw, ch) into (dh, dw, ch): area average along an axis
// that shrinks, bilinear along one that grows; rounded to the nearest byte (exact integer
// arithmetic).
inline void resize_bytes(const std::uint8_t* src, int sw, int sh, std::uint8_t* dst, int dw, int dh,
                         int ch = 3) {
  if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
    throw std::invalid_argument("zoo::io::resize_bytes: empty source or destination");
  const auto tx = detail::axis_taps(sw, dw), ty = detail::axis_taps(sh, dh);
  std::vector<std::int64_t> rows(std::size_t(sh) * dw * ch);  // horizontal pass: (sh, dw, ch) · tx.den
  for (int y = 0; y < sh; ++y)
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < ch; ++c) {
        std::int64_t s = 0;
        for (std::size_t k = 0; k < tx.taps; ++k) {
          const std::int64_t wk = tx.w[x * tx.taps + k];
          if (wk != 0) s += wk * src[(std::size_t(y) * sw + tx.first[x] + int(k)) * ch + c];
        }
        rows[(std::size_t(y) * dw + x) * ch + c] = s;
      }
  const std::int64_t den = tx.den * ty.den;
  for (int y = 0; y < dh; ++y)
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < ch; ++c) {
        std::int64_t s = 0;
        for (std::size_t k = 0; k < ty.taps; ++k) {
          const std::int64_t wk = ty.w[y * ty.taps + k];
          if (wk != 0) s += wk * rows[(std::size_t(ty.first[y] + int(k)) * dw + x) * ch + c];
        }
        dst[(std::size_t(y) * dw + x) * ch + c] = static_cast<std::uint8_t>(std::min<std::int64_t>((s + den / 2) / den, 255));
      }
}

inline Image resize_rgb(const Image& im, int w, int h) {
  Image out;
  out.width = w, out.height = h;
  out.rgb.resize(std::size_t(w) * h * 3);
  resize_bytes(im.rgb.data(), im.width, im.height, out.rgb.data(), w, h, 3);
  return out;
}

// Where letterbox() put the picture: canvas pixel = source pixel · scale + (pad_x, pad_y).
struct Letterbox {
  double scale = 1;
  int pad_x = 0, pad_y = 0, width = 0, height = 0;  // the scaled picture's size
};

// The picture scaled by min(S/w, S/h) onto an S x S canvas of `fill`, centred.
inline Image letterbox(const Image& im, int size, Letterbox* where = nullptr,
                       std::uint8_t fill = 114) {
  if (size <= 0) throw std::invalid_argument("zoo::io::letterbox: size must be positive");
  Letterbox lb;
  lb.scale = std::min(double(size) / im.width, double(size) / im.height);
  lb.width = std::clamp(static_cast<int>(std::lround(im.width * lb.scale)), 1, size);
  lb.height = std::clamp(static_cast<int>(std::lround(im.height * lb.scale)), 1, size);
  lb.pad_x = (size - lb.width) / 2, lb.pad_y = (size - lb.height) / 2;
  Image out(size, size, {fill, fill, fill});
  if (im.width == size && im.height == size) {
    out.rgb = im.rgb;
  } else {
    const Image r = resize_rgb(im, lb.width, lb.height);
    for (int y = 0; y < lb.height; ++y)
      std::copy_n(&r.rgb[std::size_t(y) * lb.width * 3], std::size_t(lb.width) * 3,
                  &out.rgb[(std::size_t(y + lb.pad_y) * size + lb.pad_x) * 3]);
  }
  if (where) *where = lb;
  return out;
}

}  // namespace zoo::io

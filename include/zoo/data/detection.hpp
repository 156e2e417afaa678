// zoo/data/detection.hpp — an object-detection data set: the digits detection set (canvases
// of MNIST digits with tight boxes), YOLO-format reading and writing, a loader that yields
// YOLOv5's (image, cls, x, y, w, h) target rows, affine augmentation, and box drawing.
//
//   auto train = zoo::data::make_digit_canvases(load_mnist("data/mnist", "train"), opt, Split::train);
//   zoo::data::ensure_digit_detection("data/digits-det", "data/mnist", opt);   // YOLO files
//   auto val = zoo::data::read_yolo("data/digits-det", "val", 128);           // any YOLO set
//   zoo::data::DetectionLoader dl(train, {.batch_size = 16, .seed = 1});
//   for (dl.start_epoch(e); dl.next(b);) loss(model.forward(b.x), b.targets);   // (B,3,S,S)
//
// Boxes are YOLO's normalized centre form: x, y (centre) and w, h as fractions of the image
// side, in pixel-edge coordinates (a box whose ink spans pixel columns x1..x2-1 has
// x = (x1 + x2) / 2S, w = (x2 - x1) / S).
//
// The digits set (make_digit_canvases): each canvas is S x S (default 128) RGB bytes, a dark
// grey background (a level in [0, background_max] plus per-pixel noise in [0, noise]) with
// 1..6 grey digits (R = G = B). A digit is a random source digit resized from 28 x 28 to a
// random side in [min_side, max_side] px (area average when shrinking, bilinear when
// growing: io::resize_bytes) at a random integer position inside the canvas, composited by
// max(background, digit). Its box is tight around its ink: the pixels of the resized digit
// whose value is above `ink_threshold` (default 64). The background stays below the
// threshold, so every pixel above it lies in some box and every box's border rows and
// columns hold a pixel above it. Overlap rule: a placement is rejected when its box's IoU
// with an earlier box is above `max_iou` (0.1) or the intersection covers more than
// `max_cover` (0.25) of either box; after `max_tries` (100) rejections the canvas keeps the
// digits placed so far if there are at least `min_digits`, else starts over. Canvas i is
// drawn from zoo::Rng(seed·φ + i) alone and resampled in exact integers, so its bytes are
// the same on every machine, compiler and flag set, and the first k canvases do not depend
// on `count`. Train canvases read the train digits with
// `train_seed`, validation canvases the t10k digits with `val_seed`: no source digit is
// shared. Box values are rounded to 6 decimals, as the label files hold them, so a set
// written and read back is bit-identical.
//
// YOLO layout (what YOLOv5 reads): <root>/images/{train,val}/000000.png,
// <root>/labels/{train,val}/000000.txt (a line `cls x y w h` per box, 6 decimals; an image
// with no boxes has an empty file), <root>/data.yaml (path, train, val, nc, names). A label
// file is found from its image as YOLOv5 does: the last "/images/" of the path becomes
// "/labels/" and the extension ".txt"; a missing label file is an image with no boxes.
// Reading refuses, with zoo::IoError naming the file and line: a line without exactly 5
// fields, a field that is not a finite number, a class that is not an integer in [0, nc),
// a value outside [0, 1], a width or height that is not positive. A box that reaches past
// the image edge (centre and size in [0, 1] but a corner outside) is clipped to the image.
// Images of another size than S are letterboxed (io::letterbox: scaled by min(S/w, S/h),
// centred on grey 114) and their boxes follow. read_data_yaml reads YOLOv5's data.yaml
// (path, train, val, test, nc, names).
//
// Loader augmentation (optional, for digits: no flips, digits are not mirror-symmetric):
// one affine warp per image, p' = s·(p − c) + c + t with c the image centre, s uniform in
// [scale_min, scale_max] and t uniform in ±translate·S per axis, bilinear, `fill` outside.
// Boxes move with it: their corners are mapped, clipped to the image, and a box is dropped
// when less than `min_keep` (0.4) of its mapped area stays inside or its clipped width or
// height is below `min_size` (2 px). Each image's warp is drawn from its own
// Rng(seed, epoch, image), so it does not depend on the batch it lands in.
//
// Data-parallel runs (zoo/distributed.hpp) set rank and world, as DataLoader's: every rank
// shuffles alike, cuts the same global batches of batch_size and takes its contiguous share
// of each (sizes differ by at most one), so K processes see at step s the images (and the
// warps) one process sees. A last batch smaller than the number of ranks joins the batch
// before it (without drop_last).
#pragma once
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"
#include "../io/error.hpp"
#include "../io/file.hpp"
#include "../io/image.hpp"
#include "../io/png.hpp"
#include "loader.hpp"

namespace zoo::data {

// One box of one image, YOLO's normalized centre form.
struct Box {
  int cls = 0;
  float x = 0, y = 0, w = 0, h = 0;
  friend bool operator==(const Box&, const Box&) = default;
};

// One target row of a batch, as YOLOv5's targets (image index in the batch, cls, x, y, w, h).
struct BoxTarget {
  std::size_t image = 0;
  int cls = 0;
  float x = 0, y = 0, w = 0, h = 0;
};

// A detection in pixels, as a row of YOLOv5's NMS output (x1, y1, x2, y2, conf, cls).
struct Detection {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0, conf = 0;
  int cls = 0;
};

struct DetectionSet {
  std::size_t count = 0, image_size = 0;  // N images of S x S
  std::size_t num_classes = 10;
  std::vector<std::uint8_t> pixels;       // (N, S, S, 3) RGB bytes
  std::vector<Box> boxes;                 // every image's boxes, image by image
  std::vector<std::size_t> offsets{0};    // (N + 1): image i owns boxes [offsets[i], offsets[i+1])
  std::vector<std::uint32_t> sources;     // generated sets: each box's source digit; else empty
  std::vector<std::string> files;         // sets read from disk: each image's path; else empty

  std::size_t size() const { return count; }
  std::size_t image_bytes() const { return image_size * image_size * 3; }
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_bytes(); }
  std::span<const Box> boxes_of(std::size_t i) const {
    return {boxes.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
  io::Image to_image(std::size_t i) const {
    io::Image im;
    im.width = im.height = static_cast<int>(image_size);
    im.rgb.assign(image(i), image(i) + image_bytes());
    return im;
  }
};

inline const std::vector<std::string>& digit_names() {
  static const std::vector<std::string> n{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return n;
}

namespace detail {
// The value a label file holds for v ("%.6f"), read back as float: generated boxes carry
// exactly what their label lines say.
inline float round6(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.6f", v);
  return static_cast<float>(std::strtod(s, nullptr));
}
// Pixel-corner boxes (x1, y1, x2, y2) — intersection over union and intersection area.
struct IBox {
  int x1, y1, x2, y2;
  long area() const { return long(x2 - x1) * (y2 - y1); }
};
inline long intersection(const IBox& a, const IBox& b) {
  const int w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  return w > 0 && h > 0 ? long(w) * h : 0;
}
inline std::uint64_t fnv1a(std::span<const std::uint8_t> b, std::uint64_t h = 1469598103934665603ULL) {
  for (auto c : b) h = (h ^ c) * 1099511628211ULL;
  return h;
}
// f(0) … f(n − 1) on OpenMP's threads when there are several, the first exception rethrown.
template <class F>
void parallel_items(std::size_t n, F&& f) {
  std::exception_ptr err;
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 8)
#endif
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
    try {
      f(static_cast<std::size_t>(i));
    } catch (...) {
#if defined(_OPENMP)
#pragma omp critical(zoo_detection_error)
#endif
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}
inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace detail

// ------------------------------------------------------------------ the digits set
enum class Split { train, val };

struct DigitDetectionOptions {
  std::size_t image_size = 128;                   // S
  std::size_t train_count = 4000, val_count = 500;
  std::size_t min_digits = 1, max_digits = 6;     // per canvas
  std::size_t min_side = 14, max_side = 56;       // the 28x28 digit cell resized to this side, px
  std::uint64_t train_seed = 1, val_seed = 2;
  double max_iou = 0.1, max_cover = 0.25;         // overlap rule (see the top of this file)
  int ink_threshold = 64;                         // ink: resized digit value > this
  int background_max = 24, noise = 16;            // background level in [0, max] + noise [0, noise]
  std::size_t max_tries = 100;                    // placements tried per digit

  std::string describe() const {  // the stamp of a written set: every option, one per line
    char s[512];
    std::snprintf(s, sizeof s,
                  "image_size %zu\ntrain_count %zu\nval_count %zu\nmin_digits %zu\nmax_digits %zu\n"
                  "min_side %zu\nmax_side %zu\ntrain_seed %llu\nval_seed %llu\nmax_iou %.17g\n"
                  "max_cover %.17g\nink_threshold %d\nbackground_max %d\nnoise %d\nmax_tries %zu\n",
                  image_size, train_count, val_count, min_digits, max_digits, min_side, max_side,
                  static_cast<unsigned long long>(train_seed), static_cast<unsigned long long>(val_seed),
                  max_iou, max_cover, ink_threshold, background_max, noise, max_tries);
    return s;
  }
  void check() const {
    auto bad = [](const std::string& w) { throw std::invalid_argument("zoo::data::DigitDetectionOptions: " + w); };
    if (image_size < 8) bad("image_size must be at least 8");
    if (min_digits < 1 || max_digits < min_digits) bad("need 1 <= min_digits <= max_digits");
    if (min_side < 4 || max_side < min_side || max_side > image_size)
      bad("need 4 <= min_side <= max_side <= image_size");
    if (ink_threshold < 0 || ink_threshold > 254) bad("ink_threshold must be in [0, 254]");
    if (background_max < 0 || noise < 0 || background_max + noise >= ink_threshold)
      bad("background_max + noise must stay below ink_threshold (else background would count as ink)");
    if (max_tries == 0) bad("max_tries must be positive");
  }
};

// Canvas `i` of a split, drawn into `canvas` (S*S*3 bytes); appends its boxes and sources.
inline void make_digit_canvas(const Dataset& digits, const DigitDetectionOptions& o, std::uint64_t seed,
                              std::size_t i, std::uint8_t* canvas, std::vector<Box>& boxes,
                              std::vector<std::uint32_t>& sources) {
  const int S = static_cast<int>(o.image_size), thr = o.ink_threshold;
  const int R = static_cast<int>(digits.rows), C = static_cast<int>(digits.cols);
  Rng rng(seed * 0x9e3779b97f4a7c15ULL + i);
  struct Placed {
    detail::IBox box;
    int side, ox, oy;
    std::uint32_t src;
    std::vector<std::uint8_t> glyph;
  };
  std::vector<Placed> placed;
  std::vector<std::uint8_t> glyph;
  for (int restart = 0;; ++restart) {
    if (restart == 1000)
      throw std::runtime_error("zoo::data::make_digit_canvas: cannot place " + std::to_string(o.min_digits) +
                               " digits under the overlap rule; lower min_digits or max_side");
    placed.clear();
    const std::size_t n = o.min_digits + rng.below(o.max_digits - o.min_digits + 1);
    for (std::size_t d = 0; d < n; ++d) {
      bool ok = false;
      for (std::size_t t = 0; t < o.max_tries && !ok; ++t) {
        const auto src = static_cast<std::uint32_t>(rng.below(digits.count));
        const int side = static_cast<int>(o.min_side + rng.below(o.max_side - o.min_side + 1));
        const int ox = static_cast<int>(rng.below(std::uint64_t(S - side + 1)));
        const int oy = static_cast<int>(rng.below(std::uint64_t(S - side + 1)));
        glyph.resize(std::size_t(side) * side);
        io::resize_bytes(digits.pixels.data() + std::size_t(src) * R * C, C, R, glyph.data(), side, side, 1);
        detail::IBox b{side, side, -1, -1};
        for (int y = 0; y < side; ++y)
          for (int x = 0; x < side; ++x)
            if (glyph[std::size_t(y) * side + x] > thr)
              b.x1 = std::min(b.x1, x), b.y1 = std::min(b.y1, y), b.x2 = std::max(b.x2, x + 1),
              b.y2 = std::max(b.y2, y + 1);
        if (b.x2 < 0) continue;  // no ink at this size
        b.x1 += ox, b.x2 += ox, b.y1 += oy, b.y2 += oy;
        bool clash = false;
        for (const auto& p : placed) {
          const double in = double(detail::intersection(b, p.box)), a = double(b.area()), pa = double(p.box.area());
          if (in / (a + pa - in) > o.max_iou || in > o.max_cover * a || in > o.max_cover * pa) {
            clash = true;
            break;
          }
        }
        if (clash) continue;
        placed.push_back({b, side, ox, oy, src, glyph});
        ok = true;
      }
      if (!ok) break;
    }
    if (placed.size() >= o.min_digits) break;
  }
  const auto base = static_cast<int>(rng.below(std::uint64_t(o.background_max) + 1));
  for (std::size_t p = 0; p < std::size_t(S) * S; ++p) {
    const auto v = static_cast<std::uint8_t>(base + static_cast<int>(rng.below(std::uint64_t(o.noise) + 1)));
    canvas[p * 3] = canvas[p * 3 + 1] = canvas[p * 3 + 2] = v;
  }
  for (const auto& p : placed) {
    for (int y = 0; y < p.side; ++y)
      for (int x = 0; x < p.side; ++x) {
        std::uint8_t* px = canvas + (std::size_t(p.oy + y) * S + (p.ox + x)) * 3;
        const std::uint8_t g = p.glyph[std::size_t(y) * p.side + x];
        if (g > px[0]) px[0] = px[1] = px[2] = g;
      }
    const double s = S;
    boxes.push_back({static_cast<int>(digits.labels[p.src]), detail::round6((p.box.x1 + p.box.x2) / (2 * s)),
                     detail::round6((p.box.y1 + p.box.y2) / (2 * s)), detail::round6((p.box.x2 - p.box.x1) / s),
                     detail::round6((p.box.y2 - p.box.y1) / s)});
    sources.push_back(p.src);
  }
}

// The train (from the train digits) or validation (from the t10k digits) canvases.
inline DetectionSet make_digit_canvases(const Dataset& digits, const DigitDetectionOptions& o, Split split) {
  o.check();
  if (digits.count == 0 || digits.rows == 0 || digits.cols == 0)
    throw std::invalid_argument("zoo::data::make_digit_canvases: the digit set is empty");
  const std::size_t n = split == Split::train ? o.train_count : o.val_count;
  const std::uint64_t seed = split == Split::train ? o.train_seed : o.val_seed;
  DetectionSet ds;
  ds.count = n, ds.image_size = o.image_size, ds.num_classes = digits.num_classes;
  ds.pixels.resize(n * ds.image_bytes());
  ds.offsets.assign(1, 0);
  // Canvases are independent (canvas i reads only Rng(seed, i)): threads draw them into
  // their own box lists, joined in order afterwards, so the set does not depend on threads.
  std::vector<std::vector<Box>> boxes(n);
  std::vector<std::vector<std::uint32_t>> sources(n);
  detail::parallel_items(n, [&](std::size_t i) {
    make_digit_canvas(digits, o, seed, i, ds.pixels.data() + i * ds.image_bytes(), boxes[i], sources[i]);
  });
  for (std::size_t i = 0; i < n; ++i) {
    ds.boxes.insert(ds.boxes.end(), boxes[i].begin(), boxes[i].end());
    ds.sources.insert(ds.sources.end(), sources[i].begin(), sources[i].end());
    ds.offsets.push_back(ds.boxes.size());
  }
  return ds;
}

// ------------------------------------------------------------------ YOLO files
// One label file's text -> boxes; `name` (the file) and line numbers go into errors.
inline std::vector<Box> parse_yolo_labels(std::string_view text, const std::string& name, std::size_t nc) {
  std::vector<Box> out;
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    auto fail = [&](const std::string& what) { return IoError(name, "line " + std::to_string(line_no) + ": " + what); };
    std::vector<std::string> f;
    for (std::size_t i = 0; i < line.size();) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const std::size_t b = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > b) f.emplace_back(line.substr(b, i - b));
    }
    if (f.empty()) continue;  // blank lines are allowed, as YOLOv5
    if (f.size() != 5)
      throw fail("has " + std::to_string(f.size()) +
                 " fields; a YOLO box line is 5: class x_center y_center width height");
    static const char* field[5] = {"class", "x_center", "y_center", "width", "height"};
    double v[5];
    for (int k = 0; k < 5; ++k) {
      char* e = nullptr;
      errno = 0;
      v[k] = std::strtod(f[k].c_str(), &e);
      if (e != f[k].c_str() + f[k].size() || e == f[k].c_str() || !std::isfinite(v[k]))
        throw fail(std::string(field[k]) + " '" + f[k] + "' is not a finite number");
    }
    if (v[0] != std::floor(v[0])) throw fail("class '" + f[0] + "' is not an integer");
    if (v[0] < 0 || v[0] >= double(nc))
      throw fail("class " + f[0] + " is not in [0, " + std::to_string(nc) + ")");
    for (int k = 1; k < 5; ++k)
      if (v[k] < 0 || v[k] > 1)
        throw fail(std::string(field[k]) + " " + f[k] + " is outside [0, 1] (boxes are normalized by the image size)");
    for (int k = 3; k < 5; ++k)
      if (v[k] <= 0) throw fail(std::string(field[k]) + " " + f[k] + " is not positive");
    out.push_back({static_cast<int>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2]),
                   static_cast<float>(v[3]), static_cast<float>(v[4])});
  }
  return out;
}

inline std::string format_yolo_labels(std::span<const Box> boxes) {
  std::string s;
  char line[96];
  for (const auto& b : boxes) {
    std::snprintf(line, sizeof line, "%d %.6f %.6f %.6f %.6f\n", b.cls, double(b.x), double(b.y), double(b.w),
                  double(b.h));
    s += line;
  }
  return s;
}

// YOLOv5's img2label_paths: the last "/images/" becomes "/labels/", the extension ".txt".
inline std::string yolo_label_path(const std::string& image_path) {
  std::string p = image_path;
  if (const auto k = p.rfind("/images/"); k != std::string::npos) p.replace(k, 8, "/labels/");
  const auto dot = p.rfind('.'), slash = p.rfind('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) p.erase(dot);
  return p + ".txt";
}

namespace detail {
inline void write_plain(const std::string& path, std::span<const std::uint8_t> bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw IoError(path, std::string("cannot create: ") + std::strerror(errno));
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) throw IoError(path, "write failed");
}
inline bool image_extension(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* k : {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".ppm", ".pgm", ".pnm"})
    if (e == k) return true;
  return false;
}
}  // namespace detail

// Writes one split: <root>/images/<split>/NNNNNN.png and <root>/labels/<split>/NNNNNN.txt.
// Plain writes: ensure_digit_detection's stamp, written last and atomically, is what says a
// set is complete.
inline void write_yolo_split(const std::string& root, const std::string& split, const DetectionSet& ds) {
  namespace fs = std::filesystem;
  const fs::path im = fs::path(root) / "images" / split, lb = fs::path(root) / "labels" / split;
  fs::create_directories(im), fs::create_directories(lb);
  detail::parallel_items(ds.count, [&](std::size_t i) {  // PNG encoding is most of the time
    char stem[32];
    std::snprintf(stem, sizeof stem, "%06zu", i);
    detail::write_plain((im / (std::string(stem) + ".png")).string(), io::encode_png(ds.to_image(i)));
    const auto txt = format_yolo_labels(ds.boxes_of(i));
    detail::write_plain((lb / (std::string(stem) + ".txt")).string(),
                        {reinterpret_cast<const std::uint8_t*>(txt.data()), txt.size()});
  });
}

// <root>/data.yaml as YOLOv5 reads it (path absolute: YOLOv5 resolves a relative one
// against its own directory).
inline void write_data_yaml(const std::string& root, const std::vector<std::string>& names) {
  std::string y = "# written by zoo (include/zoo/data/detection.hpp)\npath: " +
                  std::filesystem::absolute(root).lexically_normal().string() +
                  "\ntrain: images/train\nval: images/val\nnc: " + std::to_string(names.size()) + "\nnames: [";
  for (std::size_t i = 0; i < names.size(); ++i) y += (i ? ", '" : "'") + names[i] + "'";
  y += "]\n";
  io::write_atomic(root + "/data.yaml", {reinterpret_cast<const std::uint8_t*>(y.data()), y.size()});
}

// Reads every image of a directory (sorted by name; png, jpg, jpeg, bmp, tga, gif, pnm) and
// its label file, letterboxed to S x S when its size differs. nc: the number of classes.
inline DetectionSet read_yolo_dir(const std::string& images_dir, std::size_t S, std::size_t nc = 10) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(images_dir)) throw IoError(images_dir, "not a directory of images");
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(images_dir))
    if (e.is_regular_file() && detail::image_extension(e.path())) paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  DetectionSet ds;
  ds.count = paths.size(), ds.image_size = S, ds.num_classes = nc;
  ds.pixels.resize(ds.count * ds.image_bytes());
  ds.offsets.assign(1, 0);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    io::Letterbox lb;
    const io::Image src = io::read_image(paths[i]);
    const io::Image im = io::letterbox(src, static_cast<int>(S), &lb);
    std::copy(im.rgb.begin(), im.rgb.end(), ds.pixels.begin() + static_cast<std::ptrdiff_t>(i * ds.image_bytes()));
    const std::string lp = yolo_label_path(paths[i]);
    if (fs::exists(lp)) {
      const auto bytes = io::read_raw(lp, std::size_t{64} << 20);
      const auto boxes = parse_yolo_labels({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, lp, nc);
      const double s = double(S);
      for (Box b : boxes) {
        // source pixels -> canvas pixels -> normalized; then clip the corners to the image
        double x1 = ((b.x - b.w / 2.0) * src.width * lb.scale + lb.pad_x) / s;
        double x2 = ((b.x + b.w / 2.0) * src.width * lb.scale + lb.pad_x) / s;
        double y1 = ((b.y - b.h / 2.0) * src.height * lb.scale + lb.pad_y) / s;
        double y2 = ((b.y + b.h / 2.0) * src.height * lb.scale + lb.pad_y) / s;
        // (a box written as centre and size may reach 1 + 1e-8 in double: that is not outside)
        const bool same = src.width == int(S) && src.height == int(S);
        const bool inside = x1 >= -1e-6 && y1 >= -1e-6 && x2 <= 1 + 1e-6 && y2 <= 1 + 1e-6;
        if (!(same && inside)) {
          x1 = std::clamp(x1, 0.0, 1.0), x2 = std::clamp(x2, 0.0, 1.0);
          y1 = std::clamp(y1, 0.0, 1.0), y2 = std::clamp(y2, 0.0, 1.0);
          b.x = float((x1 + x2) / 2), b.y = float((y1 + y2) / 2), b.w = float(x2 - x1), b.h = float(y2 - y1);
        }
        ds.boxes.push_back(b);
      }
    }
    ds.offsets.push_back(ds.boxes.size());
  }
  ds.files = std::move(paths);
  return ds;
}

// <root>/images/<split> and its labels.
inline DetectionSet read_yolo(const std::string& root, const std::string& split, std::size_t S,
                              std::size_t nc = 10) {
  return read_yolo_dir(root + "/images/" + split, S, nc);
}

// ------------------------------------------------------------------ data.yaml
// What a YOLOv5 data.yaml says: the root, the train/val image directories, the classes.
struct DataYaml {
  std::string path, train, val, test;  // the splits resolved against path
  std::vector<std::string> names;
  std::size_t nc = 0;
};

// Reads the subset of YAML that data.yaml files use: `key: value` lines, # comments, quoted
// scalars, and names as a flow list (['0', '1']), a block list (- a) or a block map (0: a).
// `path` relative to the file's directory (YOLOv5 takes it relative to its own checkout), or
// the file's directory when absent. train and val must each be one directory of images (a
// .txt list of images or a list of directories is refused with the reason).
inline DataYaml read_data_yaml(const std::string& file) {
  namespace fs = std::filesystem;
  const auto bytes = io::read_raw(file, 1 << 20);
  const std::string text(bytes.begin(), bytes.end());
  auto trim = [](std::string v) {
    const auto b = v.find_first_not_of(" \t\r"), e = v.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
  };
  auto unquote = [&](std::string v) {
    v = trim(v);
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
    return v;
  };
  auto strip_comment = [](const std::string& l) {  // a # outside quotes starts a comment
    char q = 0;
    for (std::size_t i = 0; i < l.size(); ++i) {
      if (q) q = l[i] == q ? 0 : q;
      else if (l[i] == '\'' || l[i] == '"') q = l[i];
      else if (l[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(l[i - 1])))) return l.substr(0, i);
    }
    return l;
  };
  DataYaml y;
  bool have_nc = false, in_names = false;
  std::size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string raw = strip_comment(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    auto fail = [&](const std::string& what) { return IoError(file, "line " + std::to_string(line_no) + ": " + what); };
    const std::string line = trim(raw);
    if (line.empty()) continue;
    const bool indented = std::isspace(static_cast<unsigned char>(raw[0]));
    if (in_names && indented) {
      if (line[0] == '-') y.names.push_back(unquote(line.substr(1)));
      else if (const auto c = line.find(':'); c != std::string::npos) y.names.push_back(unquote(line.substr(c + 1)));
      else throw fail("cannot read a class name from '" + line + "'");
      continue;
    }
    in_names = false;
    const auto c = line.find(':');
    if (c == std::string::npos) throw fail("expected 'key: value', got '" + line + "'");
    const std::string key = trim(line.substr(0, c)), value = trim(line.substr(c + 1));
    if (key == "path") y.path = unquote(value);
    else if (key == "train") y.train = unquote(value);
    else if (key == "val") y.val = unquote(value);
    else if (key == "test") y.test = unquote(value);
    else if (key == "nc") {
      char* e = nullptr;
      const long n = std::strtol(value.c_str(), &e, 10);
      if (value.empty() || *e != 0 || n <= 0) throw fail("nc '" + value + "' is not a positive integer");
      y.nc = static_cast<std::size_t>(n), have_nc = true;
    } else if (key == "names") {
      if (value.empty()) {
        in_names = true;
      } else {
        if (value.front() != '[' || value.back() != ']') throw fail("names must be a list ([...]) or a block below 'names:'");
        std::string cur;
        char q = 0;
        for (std::size_t i = 1; i + 1 < value.size(); ++i) {
          const char ch = value[i];
          if (q) { if (ch == q) q = 0; else cur += ch; continue; }
          if (ch == '\'' || ch == '"') q = ch;
          else if (ch == ',') y.names.push_back(trim(cur)), cur.clear();
          else cur += ch;
        }
        if (!trim(cur).empty()) y.names.push_back(trim(cur));
      }
    }
    if ((key == "train" || key == "val" || key == "test") && (value.starts_with("[") || value.empty()))
      throw fail(key + " must be one directory of images (lists are not supported)");
  }
  if (!have_nc) y.nc = y.names.size();
  if (y.nc == 0) throw IoError(file, "no classes: give nc or names");
  if (!y.names.empty() && y.names.size() != y.nc)
    throw IoError(file, "nc is " + std::to_string(y.nc) + " but names lists " + std::to_string(y.names.size()));
  const fs::path dir = fs::absolute(file).parent_path();
  fs::path root = y.path.empty() ? dir : fs::path(y.path);
  if (root.is_relative()) root = dir / root;
  y.path = root.lexically_normal().string();
  for (std::string* split : {&y.train, &y.val, &y.test}) {
    if (split->empty()) continue;
    fs::path p(*split);
    if (p.is_relative()) p = root / p;
    *split = p.lexically_normal().string();
    if (p.extension() == ".txt") throw IoError(file, *split + ": image lists (.txt) are not supported; give a directory");
  }
  return y;
}

// A split ("train", "val" or "test") of the data set a data.yaml describes, letterboxed to S x S.
inline DetectionSet read_yolo_yaml(const std::string& file, const std::string& split, std::size_t S) {
  const DataYaml y = read_data_yaml(file);
  if (split != "train" && split != "val" && split != "test")
    throw std::invalid_argument("zoo::data::read_yolo_yaml: split is train, val or test, not '" + split + "'");
  const std::string& dir = split == "train" ? y.train : split == "val" ? y.val : y.test;
  if (dir.empty()) throw IoError(file, "has no '" + split + "' entry");
  return read_yolo_dir(dir, S, y.nc);
}

// Writes the digits set under `root` unless its stamp (options + fingerprints of the source
// digits) says the same set is there already. Returns true when it wrote. Refuses a
// non-empty directory without a zoo stamp rather than overwrite someone's files.
inline bool write_digit_detection(const std::string& root, const Dataset& train_digits, const Dataset& val_digits,
                                  const DigitDetectionOptions& o) {
  namespace fs = std::filesystem;
  o.check();
  auto fp = [](const Dataset& d) {
    return std::to_string(d.count) + " " + std::to_string(detail::fnv1a(d.labels, detail::fnv1a(d.pixels)));
  };
  const std::string stamp = "zoo digits detection set v1\n" + o.describe() + "train_digits " + fp(train_digits) +
                            "\nval_digits " + fp(val_digits) + "\n";
  const std::string stamp_path = root + "/.zoo_digits_stamp";
  if (fs::exists(stamp_path)) {
    const auto old = io::read_raw(stamp_path, 1 << 20);
    if (std::string(old.begin(), old.end()) == stamp) return false;
  } else if (fs::exists(root) && !fs::is_empty(root)) {
    throw IoError(root, "is not empty and has no zoo stamp (.zoo_digits_stamp): not overwriting it");
  }
  fs::remove(stamp_path);
  for (const char* d : {"images/train", "images/val", "labels/train", "labels/val"}) fs::remove_all(fs::path(root) / d);
  fs::create_directories(root);
  write_yolo_split(root, "train", make_digit_canvases(train_digits, o, Split::train));
  write_yolo_split(root, "val", make_digit_canvases(val_digits, o, Split::val));
  write_data_yaml(root, digit_names());
  io::write_atomic(stamp_path, {reinterpret_cast<const std::uint8_t*>(stamp.data()), stamp.size()});
  return true;
}

// The same from the MNIST files of scripts/fetch_data.sh (train digits -> train canvases,
// t10k digits -> validation canvases).
inline bool ensure_digit_detection(const std::string& root, const std::string& mnist_dir,
                                   const DigitDetectionOptions& o = {}) {
  return write_digit_detection(root, load_mnist(mnist_dir, "train"), load_mnist(mnist_dir, "t10k"), o);
}

// ------------------------------------------------------------------ augmentation
struct Affine {
  double scale = 1, tx = 0, ty = 0;  // p' = scale·(p − c) + c + (tx, ty), c the centre, in pixels
};

// dst = src warped by `a` (both S x S x 3), bilinear, `fill` where the source is outside.
// Source coordinates are computed once per row and per column (in double), the blend in
// integers with weights in 1/1024: identity parameters copy every byte.
// `xs` is scratch (2·S ints; the loader keeps one so a batch allocates nothing).
inline void warp_affine(const std::uint8_t* src, std::size_t S, const Affine& a, std::uint8_t* dst,
                        std::uint8_t fill, std::vector<int>& xs) {
  const double c = double(S) / 2, inv = 1.0 / a.scale;
  const int n = static_cast<int>(S);
  constexpr int one = 1024;
  auto axis = [&](int i, double t, int& i0, int& w) {  // source cell and weight of output pixel i
    const double sc = ((i + 0.5) - c - t) * inv + c - 0.5, f = std::floor(sc);
    i0 = f < -2 ? -2 : f > n ? n : static_cast<int>(f);
    w = static_cast<int>(std::lround((sc - f) * one));
    if (w == one) ++i0, w = 0;
  };
  xs.resize(std::size_t(n) * 2);
  for (int x = 0; x < n; ++x) axis(x, a.tx, xs[2 * x], xs[2 * x + 1]);
  for (int y = 0; y < n; ++y) {
    int y0, wy;
    axis(y, a.ty, y0, wy);
    for (int x = 0; x < n; ++x) {
      const int x0 = xs[2 * x], wx = xs[2 * x + 1];
      std::uint8_t* d = dst + (std::size_t(y) * S + x) * 3;
      if (x0 < -1 || y0 < -1 || x0 >= n || y0 >= n) {
        d[0] = d[1] = d[2] = fill;
        continue;
      }
      const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < n, in_y0 = y0 >= 0, in_y1 = y0 + 1 < n;
      for (int ch = 0; ch < 3; ++ch) {
        auto at = [&](bool ok, int xx, int yy) -> int { return ok ? src[(std::size_t(yy) * S + xx) * 3 + ch] : fill; };
        const int top = (one - wx) * at(in_x0 && in_y0, x0, y0) + (wx ? wx * at(in_x1 && in_y0, x0 + 1, y0) : 0);
        const int bot = wy ? (one - wx) * at(in_x0 && in_y1, x0, y0 + 1) + (wx ? wx * at(in_x1 && in_y1, x0 + 1, y0 + 1) : 0) : 0;
        d[ch] = static_cast<std::uint8_t>((std::int64_t(one - wy) * top + std::int64_t(wy) * bot + (one * one / 2)) / (one * one));
      }
    }
  }
}

inline void warp_affine(const std::uint8_t* src, std::size_t S, const Affine& a, std::uint8_t* dst,
                        std::uint8_t fill = 0) {
  std::vector<int> xs;
  warp_affine(src, S, a, dst, fill, xs);
}

struct AugmentOptions {
  double translate = 0;                   // t uniform in ±translate·S per axis
  double scale_min = 1, scale_max = 1;    // s uniform in [scale_min, scale_max]
  double min_keep = 0.4;                  // drop a box with less of its mapped area inside
  double min_size = 2;                    // drop a box narrower or lower than this, px
  std::uint8_t fill = 0;                  // outside the source image (the digits' dark)
  bool enabled() const { return translate != 0 || scale_min != 1 || scale_max != 1; }
};

// Appends the boxes of `in` moved by `a` (image side S) to `out`, clipped and filtered.
inline void warp_boxes(std::span<const Box> in, std::size_t S, const Affine& a, const AugmentOptions& o,
                       std::vector<Box>& out) {
  const double s = a.scale, tx = a.tx / double(S), ty = a.ty / double(S);
  for (const Box& b : in) {
    const double x = s * (double(b.x) - 0.5) + 0.5 + tx, y = s * (double(b.y) - 0.5) + 0.5 + ty;
    const double w = s * b.w, h = s * b.h;
    double x1 = x - w / 2, x2 = x + w / 2, y1 = y - h / 2, y2 = y + h / 2;
    Box r{b.cls, float(x), float(y), float(w), float(h)};
    if (x1 < -1e-6 || y1 < -1e-6 || x2 > 1 + 1e-6 || y2 > 1 + 1e-6) {  // (rounding is not outside)
      x1 = std::max(x1, 0.0), y1 = std::max(y1, 0.0), x2 = std::min(x2, 1.0), y2 = std::min(y2, 1.0);
      if (x2 <= x1 || y2 <= y1 || (x2 - x1) * (y2 - y1) < o.min_keep * w * h) continue;
      r = {b.cls, float((x1 + x2) / 2), float((y1 + y2) / 2), float(x2 - x1), float(y2 - y1)};
    }
    if (double(r.w) * S < o.min_size || double(r.h) * S < o.min_size) continue;
    out.push_back(r);
  }
}

// ------------------------------------------------------------------ the loader
struct DetectionLoaderOptions {
  std::size_t batch_size = 16;
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 0;
  AugmentOptions augment{};
  int rank = 0;   // this process's share of each batch (distributed runs)
  int world = 1;  // how many processes share it
};

struct DetectionBatch {
  Tensor<float> x;                  // (B, 3, S, S) in [0, 1], RGB planar
  std::vector<BoxTarget> targets;   // rows (image in batch, cls, x, y, w, h), normalized
  std::vector<std::size_t> index;   // data set images of this batch, (B)
  std::size_t global_size = 0;      // the batch summed over ranks (= size() in one process)
  std::size_t offset = 0;           // where this rank's share starts in it
  std::size_t size() const { return index.size(); }
};

class DetectionLoader {
 public:
  DetectionLoader(const DetectionSet& ds, DetectionLoaderOptions o = {})
      : ds_(&ds), opt_(o), order_(ds.count), warped_(ds.image_bytes()) {
    if (o.batch_size == 0) throw std::invalid_argument("zoo::data::DetectionLoader: batch_size is 0");
    if (o.augment.scale_min <= 0 || o.augment.scale_max < o.augment.scale_min || o.augment.translate < 0)
      throw std::invalid_argument("zoo::data::DetectionLoader: need 0 < scale_min <= scale_max and translate >= 0");
    BatchShares::check("zoo::data::DetectionLoader", "images", ds.count, o.batch_size, o.rank, o.world);
    shares_ = {o.batch_size, static_cast<std::size_t>(o.rank), static_cast<std::size_t>(o.world), o.drop_last};
    for (int v = 0; v < 256; ++v) lut_[v] = static_cast<float>(v / 255.0);
    // The most boxes a batch can hold: the B largest images' counts (a rank's share is
    // never larger than B, even with the tail merged in).
    std::vector<std::size_t> per(ds.count);
    for (std::size_t i = 0; i < ds.count; ++i) per[i] = ds.offsets[i + 1] - ds.offsets[i];
    std::sort(per.rbegin(), per.rend());
    max_targets_ = std::accumulate(per.begin(), per.begin() + std::min(per.size(), o.batch_size), std::size_t{0});
    moved_.reserve(per.empty() ? 0 : per[0]);
    xs_.reserve(2 * ds.image_size);
    start_epoch(0);
  }

  // Batches per epoch: ceil(N / B), or floor with drop_last (BatchShares).
  std::size_t num_batches() const { return shares_.num_batches(ds_->count); }
  const DetectionLoaderOptions& options() const { return opt_; }

  void start_epoch(std::uint64_t epoch) {
    epoch_ = epoch;
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (opt_.shuffle) {
      Rng rng(opt_.seed * 0x9e3779b97f4a7c15ULL + epoch);
      for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
    }
    pos_ = 0;
  }

  // The warp image `i` gets in epoch `e` (identity without augmentation).
  Affine affine_for(std::uint64_t e, std::size_t i) const {
    const auto& a = opt_.augment;
    if (!a.enabled()) return {};
    Rng rng(detail::mix(detail::mix(opt_.seed, e), i));
    const double S = double(ds_->image_size);
    Affine f;
    f.scale = rng.uniform(a.scale_min, a.scale_max);
    f.tx = rng.uniform(-a.translate, a.translate) * S;
    f.ty = rng.uniform(-a.translate, a.translate) * S;
    return f;
  }

  // Fills `b` with the next batch; false at the end of the epoch.
  bool next(DetectionBatch& b) {
    const auto [g, lo, bs] = shares_.at(ds_->count, pos_);
    if (g == 0) return false;
    b.global_size = g, b.offset = lo;
    const std::size_t S = ds_->image_size, hw = S * S;
    b.x.resize({bs, 3, S, S});
    if (b.index.capacity() < opt_.batch_size) b.index.reserve(opt_.batch_size);
    if (b.targets.capacity() < max_targets_) b.targets.reserve(max_targets_);
    b.index.assign(order_.begin() + static_cast<std::ptrdiff_t>(pos_ + lo),
                   order_.begin() + static_cast<std::ptrdiff_t>(pos_ + lo + bs));
    b.targets.clear();
    const bool aug = opt_.augment.enabled();
    for (std::size_t i = 0; i < bs; ++i) {
      const std::size_t k = b.index[i];
      const std::uint8_t* src = ds_->image(k);
      std::span<const Box> boxes = ds_->boxes_of(k);
      if (aug) {
        const Affine f = affine_for(epoch_, k);
        warp_affine(src, S, f, warped_.data(), opt_.augment.fill, xs_);
        moved_.clear();
        warp_boxes(boxes, S, f, opt_.augment, moved_);
        src = warped_.data();
        boxes = moved_;
      }
      float* dst = b.x.data() + i * 3 * hw;
      for (std::size_t p = 0; p < hw; ++p) {
        dst[p] = lut_[src[p * 3]];
        dst[hw + p] = lut_[src[p * 3 + 1]];
        dst[2 * hw + p] = lut_[src[p * 3 + 2]];
      }
      for (const Box& bx : boxes) b.targets.push_back({i, bx.cls, bx.x, bx.y, bx.w, bx.h});
    }
    pos_ += g;
    return true;
  }

 private:
  const DetectionSet* ds_;
  DetectionLoaderOptions opt_;
  BatchShares shares_;
  std::vector<std::size_t> order_;
  std::vector<std::uint8_t> warped_;
  std::vector<Box> moved_;
  std::vector<int> xs_;
  std::size_t pos_ = 0, max_targets_ = 0;
  std::uint64_t epoch_ = 0;
  float lut_[256];
};

// ------------------------------------------------------------------ drawing
// Predictions take the class colours (tab10, with class 2's green swapped for yellow so no
// class looks like a true box); true boxes are green.
inline io::Rgb class_colour(int cls) {
  return cls % 10 == 2 ? io::Rgb{255, 221, 0} : io::draw::palette(static_cast<std::size_t>(std::max(cls, 0)));
}
inline constexpr io::Rgb truth_colour{0, 230, 64};

// A box outline (`thickness` px, drawn inward from the corners) with `label` on a filled tab
// above its top-left corner (below it when the box touches the top edge). Coordinates in
// pixels, (x1, y1) to (x2, y2) exclusive; drawing clips at the image.
inline void draw_box(io::Image& im, double x1, double y1, double x2, double y2, io::Rgb c,
                     const std::string& label = "", int thickness = 1, int font = 1, bool label_below = false) {
  const int X1 = static_cast<int>(std::lround(x1)), Y1 = static_cast<int>(std::lround(y1));
  const int X2 = static_cast<int>(std::lround(x2)) - 1, Y2 = static_cast<int>(std::lround(y2)) - 1;
  for (int t = 0; t < thickness; ++t) io::draw::rect(im, X1 + t, Y1 + t, X2 - t, Y2 - t, c);
  if (label.empty()) return;
  const int tw = io::draw::text_width(label, font) + 2, th = 5 * font + 2;
  int ty = label_below ? Y2 + 1 : Y1 - th;
  if (ty < 0) ty = Y1 + thickness;
  if (ty + th > im.height) ty = std::max(0, Y2 - th);
  const int tx = std::clamp(X1, 0, std::max(0, im.width - tw));
  for (int y = ty; y < ty + th; ++y)
    for (int x = tx; x < tx + tw; ++x) im.set(x, y, c);
  const bool dark_text = int(c.r) * 299 + int(c.g) * 587 + int(c.b) * 114 > 128000;
  io::draw::text(im, tx + 1, ty + 1, label, dark_text ? io::Rgb{0, 0, 0} : io::Rgb{255, 255, 255}, font);
}

// Predictions on an image, labelled "cls conf" (conf to 2 decimals), in class colours.
inline void draw_detections(io::Image& im, std::span<const Detection> dets, double zoom = 1, int font = 1) {
  char s[32];
  for (const auto& d : dets) {
    std::snprintf(s, sizeof s, "%d %.2f", d.cls, double(d.conf));
    draw_box(im, d.x1 * zoom, d.y1 * zoom, d.x2 * zoom, d.y2 * zoom, class_colour(d.cls), s, zoom >= 2 ? 2 : 1, font);
  }
}

// Nearest-neighbour enlargement by an integer factor.
inline io::Image zoom_image(const io::Image& im, int k) {
  if (k <= 1) return im;
  io::Image out(im.width * k, im.height * k);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) out.set(x, y, im.get(x / k, y / k));
  return out;
}

// An image of a (B, 3, S, S) batch in [0, 1] as RGB bytes.
inline io::Image batch_image(const Tensor<float>& x, std::size_t i) {
  if (x.rank() != 4 || x.dim(1) != 3 || i >= x.dim(0))
    throw std::invalid_argument("zoo::data::batch_image: need (B, 3, H, W) and i < B; got " + x.shape_str());
  const std::size_t H = x.dim(2), W = x.dim(3), hw = H * W;
  io::Image im(static_cast<int>(W), static_cast<int>(H));
  const float* p = x.data() + i * 3 * hw;
  for (std::size_t k = 0; k < hw; ++k)
    for (std::size_t c = 0; c < 3; ++c)
      im.rgb[k * 3 + c] = static_cast<std::uint8_t>(std::clamp(p[c * hw + k] * 255.0f + 0.5f, 0.0f, 255.0f));
  return im;
}

// A grid of images (each enlarged `zoom` times) with predicted boxes (per image, pixels of
// the unzoomed image) in class colours labelled "cls conf", and true boxes (BoxTarget rows;
// `image` indexes `images`) in green labelled with their class below the box.
inline io::Image detection_grid(std::span<const io::Image> images, std::span<const std::vector<Detection>> preds,
                                std::span<const BoxTarget> truths, std::size_t cols = 4, int zoom = 2) {
  if (images.empty()) throw std::invalid_argument("zoo::data::detection_grid: no images");
  if (!preds.empty() && preds.size() != images.size())
    throw std::invalid_argument("zoo::data::detection_grid: " + std::to_string(preds.size()) +
                                " prediction lists for " + std::to_string(images.size()) + " images");
  zoom = std::max(zoom, 1), cols = std::clamp<std::size_t>(cols, 1, images.size());
  int cw = 0, ch = 0;
  for (const auto& im : images) cw = std::max(cw, im.width * zoom), ch = std::max(ch, im.height * zoom);
  const int pad = 4, rows = static_cast<int>((images.size() + cols - 1) / cols);
  io::Image g(static_cast<int>(cols) * (cw + pad) + pad, rows * (ch + pad) + pad, {255, 255, 255});
  const int font = zoom >= 2 ? 2 : 1;
  for (std::size_t i = 0; i < images.size(); ++i) {
    io::Image z = zoom_image(images[i], zoom);
    for (const auto& t : truths)
      if (t.image == i) {
        const double W = images[i].width, H = images[i].height;
        draw_box(z, (t.x - t.w / 2) * W * zoom, (t.y - t.h / 2) * H * zoom, (t.x + t.w / 2) * W * zoom,
                 (t.y + t.h / 2) * H * zoom, truth_colour, std::to_string(t.cls), 1, font, true);
      }
    if (!preds.empty()) draw_detections(z, preds[i], zoom, font);
    const int ox = pad + static_cast<int>(i % cols) * (cw + pad), oy = pad + static_cast<int>(i / cols) * (ch + pad);
    for (int y = 0; y < z.height; ++y)
      for (int x = 0; x < z.width; ++x) g.set(ox + x, oy + y, z.get(x, y));
  }
  return g;
}

inline void write_detection_grid(const std::string& path, std::span<const io::Image> images,
                                 std::span<const std::vector<Detection>> preds, std::span<const BoxTarget> truths,
                                 std::size_t cols = 4, int zoom = 2) {
  io::save_png(path, detection_grid(images, preds, truths, cols, zoom));
}

}  // namespace zoo::data

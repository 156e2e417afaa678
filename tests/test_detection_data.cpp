// The digits detection set and YOLO-format data: deterministic generation with tight
// boxes, train/val from different digits, write/read round trips, strict label and image
// errors naming the file and line, letterboxing, affine augmentation that keeps boxes on
// the ink, the loader's batches and targets (allocation-free after the first batch), and
// box drawing. The format tests use tiny synthetic digits made here; the last test uses
// data/mnist when scripts/fetch_data.sh has run.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <sstream>

#include "zoo/data/detection.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts every operator new in the process (as tests/test_model.cpp).
static std::atomic<long> g_allocs{0};
void* operator new(std::size_t n) {
  ++g_allocs;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  ++g_allocs;
  const auto al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace zoo;
using namespace zoo::data;
namespace fs = std::filesystem;

namespace {
doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

// n 28x28 "digits": a hollow rectangle, 3 px thick, of value `ink`, its corners depending
// on i (so sizes and positions vary), label i % 10.
Dataset synthetic_digits(std::size_t n, std::uint8_t ink) {
  Dataset d{n, 28, 28, {}, {}, 10};
  d.pixels.assign(n * 784, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t x1 = 3 + i % 5, x2 = 25 - i % 4, y1 = 2 + i % 3, y2 = 26 - i % 6;
    for (std::size_t y = y1; y < y2; ++y)
      for (std::size_t x = x1; x < x2; ++x)
        if (x < x1 + 3 || x >= x2 - 3 || y < y1 + 3 || y >= y2 - 3) d.pixels[i * 784 + y * 28 + x] = ink;
    d.labels.push_back(static_cast<std::uint8_t>(i % 10));
  }
  return d;
}

DigitDetectionOptions small_options() {
  DigitDetectionOptions o;
  o.image_size = 64, o.train_count = 30, o.val_count = 12;
  o.min_digits = 1, o.max_digits = 4, o.min_side = 10, o.max_side = 30;
  return o;
}

struct PixBox {
  int x1, y1, x2, y2;
};
// A normalized box in pixels; the digits set's boxes are whole pixels.
PixBox to_pixels(const Box& b, std::size_t S) {
  const double s = double(S);
  return {int(std::lround((b.x - b.w / 2) * s)), int(std::lround((b.y - b.h / 2) * s)),
          int(std::lround((b.x + b.w / 2) * s)), int(std::lround((b.y + b.h / 2) * s))};
}

// Every ink pixel (> thr) lies in a box, every box lies in the image, and each of its
// border rows and columns holds ink — i.e. boxes are tight around ink.
void check_tight(const DetectionSet& ds, int thr) {
  const int S = static_cast<int>(ds.image_size);
  for (std::size_t i = 0; i < ds.size(); ++i) {
    const std::uint8_t* im = ds.image(i);
    auto ink = [&](int x, int y) { return im[(std::size_t(y) * S + x) * 3] > thr; };
    std::vector<PixBox> bx;
    for (const Box& b : ds.boxes_of(i)) {
      const PixBox p = to_pixels(b, ds.image_size);
      CHECK(std::abs((b.x - b.w / 2) * S - p.x1) < 1e-3);  // whole pixels
      CHECK(std::abs((b.x + b.w / 2) * S - p.x2) < 1e-3);
      REQUIRE(p.x1 >= 0);
      REQUIRE(p.y1 >= 0);
      REQUIRE(p.x2 <= S);
      REQUIRE(p.y2 <= S);
      REQUIRE(p.x2 > p.x1);
      REQUIRE(p.y2 > p.y1);
      bool top = false, bottom = false, left = false, right = false;
      for (int x = p.x1; x < p.x2; ++x) top |= ink(x, p.y1), bottom |= ink(x, p.y2 - 1);
      for (int y = p.y1; y < p.y2; ++y) left |= ink(p.x1, y), right |= ink(p.x2 - 1, y);
      CHECK(top);
      CHECK(bottom);
      CHECK(left);
      CHECK(right);
      bx.push_back(p);
    }
    int outside = 0;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        if (!ink(x, y)) continue;
        bool in = false;
        for (const auto& p : bx) in |= x >= p.x1 && x < p.x2 && y >= p.y1 && y < p.y2;
        outside += !in;
      }
    CHECK(outside == 0);
  }
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
void spit(const std::string& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}
std::string temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("zoo_det_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}
}  // namespace

TEST_CASE("digit canvases are deterministic, tight, within the digit counts, labelled by their digit") {
  const auto digits = synthetic_digits(50, 255);
  const auto o = small_options();
  const auto a = make_digit_canvases(digits, o, Split::train), b = make_digit_canvases(digits, o, Split::train);
  REQUIRE(a.size() == 30);
  CHECK(a.pixels == b.pixels);
  CHECK(a.boxes == b.boxes);
  CHECK(a.offsets == b.offsets);

  auto o2 = o;
  o2.train_seed = 99;
  const auto c = make_digit_canvases(digits, o2, Split::train);
  CHECK(c.pixels != a.pixels);
  CHECK(c.boxes != a.boxes);

  // canvas i depends on (seed, i) only: a shorter set is a prefix
  auto o3 = o;
  o3.train_count = 7;
  const auto p = make_digit_canvases(digits, o3, Split::train);
  CHECK(std::equal(p.pixels.begin(), p.pixels.end(), a.pixels.begin()));
  CHECK(std::equal(p.boxes.begin(), p.boxes.end(), a.boxes.begin()));

  std::set<std::size_t> counts;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto n = a.boxes_of(i).size();
    CHECK(n >= o.min_digits);
    CHECK(n <= o.max_digits);
    counts.insert(n);
    const std::uint8_t* im = a.image(i);
    for (std::size_t k = 0; k < a.image_bytes(); k += 3) {  // grey
      CHECK(im[k] == im[k + 1]);
      CHECK(im[k] == im[k + 2]);
    }
  }
  CHECK(counts.size() >= 3);  // the count varies
  REQUIRE(a.sources.size() == a.boxes.size());
  for (std::size_t k = 0; k < a.boxes.size(); ++k) CHECK(a.boxes[k].cls == digits.labels[a.sources[k]]);
  check_tight(a, o.ink_threshold);

  // overlap rule: no two boxes of a canvas with IoU above max_iou
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto bs = a.boxes_of(i);
    for (std::size_t u = 0; u < bs.size(); ++u)
      for (std::size_t v = u + 1; v < bs.size(); ++v) {
        const auto p1 = to_pixels(bs[u], 64), p2 = to_pixels(bs[v], 64);
        const int w = std::min(p1.x2, p2.x2) - std::max(p1.x1, p2.x1), h = std::min(p1.y2, p2.y2) - std::max(p1.y1, p2.y1);
        const double in = w > 0 && h > 0 ? double(w) * h : 0.0;
        const double a1 = double(p1.x2 - p1.x1) * (p1.y2 - p1.y1), a2 = double(p2.x2 - p2.x1) * (p2.y2 - p2.y1);
        CHECK(in / (a1 + a2 - in) <= o.max_iou + 1e-12);
        CHECK(in <= o.max_cover * std::min(a1, a2) + 1e-9);
      }
  }

  CHECK_THROWS_AS(make_digit_canvases(digits, [&] { auto x = o; x.max_side = 100; return x; }(), Split::train),
                  std::invalid_argument);
  CHECK_THROWS_AS(make_digit_canvases(digits, [&] { auto x = o; x.noise = 60; return x; }(), Split::train),
                  std::invalid_argument);
}

TEST_CASE("train canvases use only the train digits, validation only the t10k digits") {
  // train digits have ink 250, t10k digits ink 120: a validation canvas never gets brighter
  // than 120, and every training canvas reaches past 200.
  const auto train_digits = synthetic_digits(40, 250), val_digits = synthetic_digits(23, 120);
  const auto o = small_options();
  const auto tr = make_digit_canvases(train_digits, o, Split::train);
  const auto va = make_digit_canvases(val_digits, o, Split::val);
  CHECK(va.size() == 12);
  for (std::size_t i = 0; i < va.size(); ++i)
    CHECK(*std::max_element(va.image(i), va.image(i) + va.image_bytes()) <= 120);
  for (std::size_t i = 0; i < tr.size(); ++i)
    CHECK(*std::max_element(tr.image(i), tr.image(i) + tr.image_bytes()) > 200);
  for (auto s : va.sources) CHECK(s < 23);
  // the splits use different seeds: the same digits give different canvases
  const auto va_same = make_digit_canvases(train_digits, o, Split::val);
  CHECK(!std::equal(va_same.pixels.begin(), va_same.pixels.begin() + 12 * 64 * 64 * 3, tr.pixels.begin()));
  check_tight(va, o.ink_threshold);
}

TEST_CASE("the digits set written as YOLO files reads back bit-identical; the stamp makes writing idempotent") {
  const std::string root = temp_dir("roundtrip");
  const auto train_digits = synthetic_digits(40, 250), val_digits = synthetic_digits(23, 200);
  auto o = small_options();
  CHECK(write_digit_detection(root, train_digits, val_digits, o));
  CHECK(fs::exists(root + "/images/train/000029.png"));
  CHECK(fs::exists(root + "/labels/val/000011.txt"));
  const auto yaml = slurp(root + "/data.yaml");
  CHECK(yaml.find("train: images/train\n") != std::string::npos);
  CHECK(yaml.find("val: images/val\n") != std::string::npos);
  CHECK(yaml.find("nc: 10\n") != std::string::npos);
  CHECK(yaml.find("names: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']") != std::string::npos);
  CHECK(yaml.find("path: /") != std::string::npos);

  const auto tr = make_digit_canvases(train_digits, o, Split::train);
  const auto back = read_yolo(root, "train", 64);
  REQUIRE(back.size() == tr.size());
  CHECK(back.pixels == tr.pixels);
  CHECK(back.boxes == tr.boxes);
  CHECK(back.offsets == tr.offsets);
  CHECK(back.files[3] == root + "/images/train/000003.png");
  const auto va = make_digit_canvases(val_digits, o, Split::val);
  const auto vback = read_yolo(root, "val", 64);
  CHECK(vback.pixels == va.pixels);
  CHECK(vback.boxes == va.boxes);

  // data.yaml reads back (absolute path, splits under it, ten classes)
  const auto y = read_data_yaml(root + "/data.yaml");
  CHECK(y.path == fs::absolute(root).lexically_normal().string());
  CHECK(y.train == y.path + "/images/train");
  CHECK(y.val == y.path + "/images/val");
  CHECK(y.nc == 10);
  CHECK(y.names == digit_names());
  CHECK(read_yolo_yaml(root + "/data.yaml", "val", 64).boxes == va.boxes);

  // label lines: "cls x y w h", an integer and four numbers with 6 decimals
  const auto txt = slurp(root + "/labels/train/000000.txt");
  std::istringstream lines(txt);
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    ++n;
    int cls = -1;
    float v[4];
    char tail = 0;
    CHECK(std::sscanf(line.c_str(), "%d %f %f %f %f%c", &cls, v, v + 1, v + 2, v + 3, &tail) == 5);
    CHECK(cls >= 0);
    CHECK(cls <= 9);
    std::istringstream f(line);
    std::string tok;
    f >> tok;
    for (int k = 0; k < 4; ++k) {
      f >> tok;
      CHECK(tok.size() == 8);  // 0.dddddd
      CHECK(tok.find('.') == 1);
    }
  }
  CHECK(n == tr.boxes_of(0).size());

  // same options and digits: nothing written; other options: rewritten, stale files gone
  const auto t0 = fs::last_write_time(root + "/images/train/000000.png");
  CHECK_FALSE(write_digit_detection(root, train_digits, val_digits, o));
  CHECK(fs::last_write_time(root + "/images/train/000000.png") == t0);
  o.train_count = 5;
  CHECK(write_digit_detection(root, train_digits, val_digits, o));
  CHECK(read_yolo(root, "train", 64).size() == 5);
  CHECK_FALSE(fs::exists(root + "/labels/train/000029.txt"));
  // other source digits: rewritten too
  CHECK(write_digit_detection(root, synthetic_digits(41, 250), val_digits, o));

  // a directory zoo did not write is not overwritten
  const std::string other = temp_dir("other");
  fs::create_directories(other);
  spit(other + "/mine.txt", "keep me");
  CHECK_THROWS_WITH(write_digit_detection(other, train_digits, val_digits, o), has("not overwriting"));
  CHECK(slurp(other + "/mine.txt") == "keep me");
  fs::remove_all(root);
  fs::remove_all(other);
}

TEST_CASE("label files are read strictly: each fault names the file, the line and what is wrong") {
  const std::string root = temp_dir("labels");
  fs::create_directories(root + "/images/s");
  fs::create_directories(root + "/labels/s");
  io::save_png(root + "/images/s/a.png", io::Image(16, 16, {10, 20, 30}));
  const std::string lp = root + "/labels/s/a.txt";
  auto fails = [&](const std::string& text, const std::string& what) {
    spit(lp, text);
    CHECK_THROWS_WITH_AS(read_yolo(root, "s", 16), has(lp + ": line 2: " + what), IoError);
  };
  const std::string ok = "3 0.5 0.5 0.25 0.25\n";
  fails(ok + "1 0.5 0.5 0.2\n", "has 4 fields");
  fails(ok + "1 0.5 0.5 0.2 0.2 0.1\n", "has 6 fields");
  fails(ok + "1 0.5 abc 0.2 0.2\n", "y_center 'abc' is not a finite number");
  fails(ok + "1 0.5 0.5x 0.2 0.2\n", "y_center '0.5x' is not a finite number");
  fails(ok + "1 nan 0.5 0.2 0.2\n", "x_center 'nan' is not a finite number");
  fails(ok + "one 0.5 0.5 0.2 0.2\n", "class 'one' is not a finite number");
  fails(ok + "10 0.5 0.5 0.2 0.2\n", "class 10 is not in [0, 10)");
  fails(ok + "-1 0.5 0.5 0.2 0.2\n", "class -1 is not in [0, 10)");
  fails(ok + "2.5 0.5 0.5 0.2 0.2\n", "class '2.5' is not an integer");
  fails(ok + "1 1.2 0.5 0.2 0.2\n", "x_center 1.2 is outside [0, 1]");
  fails(ok + "1 0.5 -0.1 0.2 0.2\n", "y_center -0.1 is outside [0, 1]");
  fails(ok + "1 0.5 0.5 1.5 0.2\n", "width 1.5 is outside [0, 1]");
  fails(ok + "1 0.5 0.5 0 0.2\n", "width 0 is not positive");
  fails(ok + "1 0.5 0.5 0.2 -0.2\n", "height -0.2 is outside [0, 1]");
  fails(ok + "1 0.5 0.5 0.2 0\n", "height 0 is not positive");
  // the number of classes is the reader's
  spit(lp, ok + "7 0.5 0.5 0.2 0.2\n");
  CHECK_THROWS_WITH(read_yolo(root, "s", 16, 5), has(lp + ": line 2: class 7 is not in [0, 5)"));

  // blank lines and CRLF are fine; "4.0" is class 4; a box past the edge is clipped
  spit(lp, "\n" + ok + "\r\n4.0 0.9 0.5 0.4 0.2\r\n\n");
  auto ds = read_yolo(root, "s", 16);
  REQUIRE(ds.boxes.size() == 2);
  CHECK(ds.boxes[0] == Box{3, 0.5f, 0.5f, 0.25f, 0.25f});
  CHECK(ds.boxes[1].cls == 4);
  CHECK(ds.boxes[1].x == doctest::Approx(0.85));  // [0.7, 1.1] -> [0.7, 1]
  CHECK(ds.boxes[1].w == doctest::Approx(0.3));
  CHECK(ds.boxes[1].h == doctest::Approx(0.2));
  // no label file: an image without boxes
  fs::remove(lp);
  ds = read_yolo(root, "s", 16);
  CHECK(ds.size() == 1);
  CHECK(ds.boxes.empty());
  CHECK(ds.offsets == std::vector<std::size_t>{0, 0});
  fs::remove_all(root);
}

TEST_CASE("unreadable images are refused naming the file; JPEG reads; other sizes are letterboxed") {
  const std::string root = temp_dir("images");
  fs::create_directories(root + "/images/s");
  io::Image src(32, 16);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 32; ++x) src.set(x, y, {std::uint8_t(x * 8), std::uint8_t(y * 16), 200});
  const auto png = io::encode_png(src);
  const std::string p = root + "/images/s/b.png";

  spit(p, std::string(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)));
  CHECK_THROWS_WITH_AS(read_yolo(root, "s", 16), has(p + ": cannot decode the image (stb_image:"), IoError);
  spit(p, "0 0.5 0.5 0.1 0.1\n");
  CHECK_THROWS_WITH_AS(read_yolo(root, "s", 16), has(p + ": not a readable image (stb_image:"), IoError);
  spit(p, "");
  CHECK_THROWS_WITH_AS(read_yolo(root, "s", 16), has(p + ": not an image: the file is empty"), IoError);
  CHECK_THROWS_WITH_AS(io::read_image(root + "/nope.png"), has(root + "/nope.png: cannot open"), IoError);
  CHECK_THROWS_WITH_AS(read_yolo(root, "nope", 16), has("not a directory"), IoError);

  // letterbox: 32x16 -> 16x16 is scale 0.5, an 16x8 picture with 4 rows of grey above and below
  io::save_png(p, src);
  fs::create_directories(root + "/labels/s");
  spit(root + "/labels/s/b.txt", "1 0.25 0.5 0.25 0.5\n");
  const auto ds = read_yolo(root, "s", 16);
  REQUIRE(ds.size() == 1);
  const auto* im = ds.image(0);
  CHECK(im[0] == 114);                          // pad row
  CHECK(im[(15 * 16 + 15) * 3] == 114);
  CHECK(im[(4 * 16 + 0) * 3 + 2] == 200);       // picture
  CHECK(int(im[(4 * 16 + 3) * 3]) == 52);       // area average of source x = 6, 7: (48 + 56) / 2
  REQUIRE(ds.boxes.size() == 1);
  CHECK(ds.boxes[0].x == doctest::Approx(0.25));
  CHECK(ds.boxes[0].y == doctest::Approx(0.5));
  CHECK(ds.boxes[0].w == doctest::Approx(0.25));
  CHECK(ds.boxes[0].h == doctest::Approx(0.25));  // 0.5 of 8 rows of 16

  // JPEG (written by stb_image_write) reads as RGB of the same size, close in value
  std::vector<std::uint8_t> jpg;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  REQUIRE(stbi_write_jpg_to_func(sink, &jpg, 32, 16, 3, src.rgb.data(), 95));
  const auto j = io::decode_image(jpg, "mem.jpg");
  CHECK(j.width == 32);
  CHECK(j.height == 16);
  double err = 0;
  for (std::size_t k = 0; k < j.rgb.size(); ++k) err = std::max(err, std::abs(double(j.rgb[k]) - src.rgb[k]));
  CHECK(err < 24);
  fs::remove_all(root);
}

TEST_CASE("resampling: area average when shrinking, bilinear when growing, identity at the same size") {
  std::vector<std::uint8_t> a{0, 100, 200, 50}, out(2), same(4);
  io::resize_bytes(a.data(), 4, 1, out.data(), 2, 1, 1);
  CHECK(int(out[0]) == 50);
  CHECK(int(out[1]) == 125);
  io::resize_bytes(a.data(), 4, 1, same.data(), 4, 1, 1);
  CHECK(same == a);
  std::vector<std::uint8_t> two{0, 200}, up(4);
  io::resize_bytes(two.data(), 2, 1, up.data(), 4, 1, 1);  // centres at -0.25, 0.25, 0.75, 1.25
  CHECK(int(up[0]) == 0);
  CHECK(int(up[1]) == 50);
  CHECK(int(up[2]) == 150);
  CHECK(int(up[3]) == 200);
}

TEST_CASE("augmentation: identity changes nothing, warped boxes stay tight on the warped ink") {
  const auto digits = synthetic_digits(30, 255);
  auto o = small_options();
  o.min_digits = o.max_digits = 1;
  o.min_side = 16, o.max_side = 28;
  const auto ds = make_digit_canvases(digits, o, Split::train);
  const std::size_t S = 64;
  std::vector<std::uint8_t> w(ds.image_bytes());
  AugmentOptions ao;
  std::vector<Box> moved;
  for (std::size_t i = 0; i < 5; ++i) {
    warp_affine(ds.image(i), S, Affine{}, w.data());
    CHECK(std::equal(w.begin(), w.end(), ds.image(i)));
    moved.clear();
    warp_boxes(ds.boxes_of(i), S, Affine{}, ao, moved);
    CHECK(std::equal(moved.begin(), moved.end(), ds.boxes_of(i).begin(), ds.boxes_of(i).end()));
  }
  Rng rng(5);
  int compared = 0, dropped = 0;
  for (std::size_t i = 0; i < ds.size(); ++i)
    for (int rep = 0; rep < 4; ++rep) {
      const Affine f{rng.uniform(0.5, 1.5), rng.uniform(-0.3, 0.3) * S, rng.uniform(-0.3, 0.3) * S};
      warp_affine(ds.image(i), S, f, w.data());
      moved.clear();
      warp_boxes(ds.boxes_of(i), S, f, ao, moved);
      // the ink's box in the warped image
      int x1 = 1 << 20, y1 = 1 << 20, x2 = -1, y2 = -1;
      for (int y = 0; y < int(S); ++y)
        for (int x = 0; x < int(S); ++x)
          if (w[(std::size_t(y) * S + x) * 3] > o.ink_threshold)
            x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x + 1), y2 = std::max(y2, y + 1);
      if (moved.empty()) {
        ++dropped;
        continue;
      }
      REQUIRE(x2 > 0);  // a kept box has ink
      const Box& b = moved[0];
      const double s = double(S), tol = 0.5 + 0.5 * f.scale;  // half a source pixel, scaled, + half a pixel
      CHECK(std::abs((b.x - b.w / 2) * s - x1) <= tol);
      CHECK(std::abs((b.x + b.w / 2) * s - x2) <= tol);
      CHECK(std::abs((b.y - b.h / 2) * s - y1) <= tol);
      CHECK(std::abs((b.y + b.h / 2) * s - y2) <= tol);
      ++compared;
    }
  CHECK(compared > 100);
  CHECK(dropped > 0);  // ±30 % translation pushes some digits out

  // dropping: a box pushed mostly out goes, one half out stays (clipped)
  const std::vector<Box> one{{1, 0.5f, 0.5f, 0.25f, 0.25f}};
  moved.clear();
  warp_boxes(one, S, Affine{1, 0.55 * 64, 0}, ao, moved);  // centre to 1.05: 30 % inside
  CHECK(moved.empty());
  warp_boxes(one, S, Affine{1, 0.5 * 64 - 8, 0}, ao, moved);  // centre to 0.875: [0.75, 1.0] of [0.75, 1.0]
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].w == doctest::Approx(0.25));
  moved.clear();
  warp_boxes(one, S, Affine{1, 0.5 * 64 - 4, 0}, ao, moved);  // half out: kept, clipped to [0.8125, 1]
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].w == doctest::Approx(0.1875));
  CHECK(moved[0].x == doctest::Approx(0.90625));
  moved.clear();
  warp_boxes(one, S, Affine{0.1, 0, 0}, ao, moved);  // 1.6 px: too small
  CHECK(moved.empty());
}

TEST_CASE("DetectionLoader: every image once per epoch, YOLOv5 target rows, no allocation after the first batch") {
  const auto digits = synthetic_digits(30, 255);
  auto o = small_options();
  o.train_count = 37;
  const auto ds = make_digit_canvases(digits, o, Split::train);
  for (bool aug : {false, true}) {
    DetectionLoaderOptions lo{.batch_size = 8, .shuffle = true, .seed = 3};
    if (aug) lo.augment = {.translate = 0.2, .scale_min = 0.6, .scale_max = 1.4};
    DetectionLoader dl(ds, lo);
    CHECK(dl.num_batches() == 5);
    DetectionBatch b;
    long later_allocs = 0;  // operator new calls inside start_epoch/next after the first batch
    bool first = true;
    std::vector<std::vector<std::size_t>> orders;
    std::vector<std::size_t> batch_sizes;
    std::vector<std::vector<BoxTarget>> all_targets;
    std::vector<std::vector<std::size_t>> all_index;
    for (int e = 0; e < 3; ++e) {
      std::vector<std::size_t> order;
      long before = g_allocs.load();
      dl.start_epoch(e);
      if (!first) later_allocs += g_allocs.load() - before;
      for (;;) {
        before = g_allocs.load();
        const bool more = dl.next(b);
        if (!first) later_allocs += g_allocs.load() - before;
        first = false;
        if (!more) break;
        all_index.push_back(b.index);
        all_targets.push_back(b.targets);
        batch_sizes.push_back(b.size());
        order.insert(order.end(), b.index.begin(), b.index.end());
      }
      orders.push_back(order);
    }
    CHECK(later_allocs == 0);
    for (const auto& ord : orders) {
      CHECK(ord.size() == 37);
      CHECK(std::set<std::size_t>(ord.begin(), ord.end()).size() == 37);
    }
    CHECK(orders[0] != orders[1]);
    for (std::size_t k = 0; k < all_targets.size(); ++k) {
      std::size_t expected = 0;
      for (const auto& t : all_targets[k]) {
        CHECK(t.image < batch_sizes[k]);
        CHECK(t.cls >= 0);
        CHECK(t.cls <= 9);
        CHECK(t.x - t.w / 2 >= -1e-6f);
        CHECK(t.x + t.w / 2 <= 1 + 1e-6f);
      }
      if (!aug) {
        for (auto i : all_index[k]) expected += ds.boxes_of(i).size();
        CHECK(all_targets[k].size() == expected);
      }
    }
    // the last batch of an epoch holds 5 images; rows follow image order in the batch
    CHECK(batch_sizes[4] == 5);
    for (std::size_t k = 1; k < all_targets[0].size(); ++k) CHECK(all_targets[0][k].image >= all_targets[0][k - 1].image);
  }

  // pixels: x[i, c, y, x] = byte / 255, planar; targets equal the image's boxes in order
  DetectionLoader plain(ds, {.batch_size = 4, .shuffle = false});
  DetectionBatch b;
  REQUIRE(plain.next(b));
  CHECK(b.x.dim(0) == 4);
  CHECK(b.x.dim(1) == 3);
  CHECK(b.x.dim(2) == 64);
  const std::size_t hw = 64 * 64;
  for (std::size_t p = 0; p < hw; p += 97)
    for (std::size_t c = 0; c < 3; ++c) CHECK(b.x[1 * 3 * hw + c * hw + p] == doctest::Approx(ds.image(1)[p * 3 + c] / 255.0));
  std::size_t r = 0;
  for (std::size_t i = 0; i < 4; ++i)
    for (const Box& bx : ds.boxes_of(i)) {
      REQUIRE(r < b.targets.size());
      CHECK(b.targets[r].image == i);
      CHECK(b.targets[r].cls == bx.cls);
      CHECK(b.targets[r].x == bx.x);
      CHECK(b.targets[r].h == bx.h);
      ++r;
    }
  CHECK(r == b.targets.size());

  // augmentation in the loader is warp_affine/warp_boxes with affine_for(epoch, image)
  DetectionLoader aug(ds, {.batch_size = 4, .shuffle = false, .seed = 9,
                           .augment = {.translate = 0.1, .scale_min = 0.8, .scale_max = 1.2}});
  aug.start_epoch(2);
  REQUIRE(aug.next(b));
  const Affine f = aug.affine_for(2, 2);
  CHECK(f.scale != 1.0);
  std::vector<std::uint8_t> w(ds.image_bytes());
  warp_affine(ds.image(2), 64, f, w.data());
  for (std::size_t p = 0; p < hw; p += 31) CHECK(b.x[2 * 3 * hw + p] == doctest::Approx(w[p * 3] / 255.0));
  std::vector<Box> moved;
  warp_boxes(ds.boxes_of(2), 64, f, aug.options().augment, moved);
  std::vector<Box> got;
  for (const auto& t : b.targets)
    if (t.image == 2) got.push_back({t.cls, t.x, t.y, t.w, t.h});
  CHECK(got == moved);

  // a first batch with few boxes and a second with many: the second must not allocate either
  DetectionSet uneven;
  uneven.count = 16, uneven.image_size = 8;
  uneven.pixels.assign(16 * 8 * 8 * 3, 7);
  for (std::size_t i = 0; i < 16; ++i) {
    for (std::size_t k = 0; k < (i < 8 ? 1u : 6u); ++k) uneven.boxes.push_back({int(k), 0.5f, 0.5f, 0.5f, 0.5f});
    uneven.offsets.push_back(uneven.boxes.size());
  }
  for (bool with_aug : {false, true}) {
    DetectionLoaderOptions uo{.batch_size = 8, .shuffle = false};
    if (with_aug) uo.augment = {.translate = 0.01, .scale_min = 0.99, .scale_max = 1.01, .min_size = 0};
    DetectionLoader ul(uneven, uo);
    REQUIRE(ul.next(b));
    CHECK(b.targets.size() == 8);
    const long before = g_allocs.load();
    REQUIRE(ul.next(b));
    CHECK(g_allocs.load() == before);
    CHECK(b.targets.size() == 48);
  }

  DetectionLoader drop(ds, {.batch_size = 8, .drop_last = true});
  CHECK(drop.num_batches() == 4);
  std::size_t n = 0;
  for (drop.start_epoch(0); drop.next(b);) n += b.size();
  CHECK(n == 32);
  CHECK_THROWS_AS(DetectionLoader(ds, {.batch_size = 0}), std::invalid_argument);
}

TEST_CASE("drawing: box outlines in class colours, labels on tabs, a grid of predictions and truths") {
  io::Image im(40, 40, {0, 0, 0});
  draw_box(im, 10, 12, 30, 32, {255, 0, 0}, "7", 1);
  CHECK(im.get(10, 12).r == 255);  // corner
  CHECK(im.get(29, 31).r == 255);  // last pixel inside (x2, y2 exclusive)
  CHECK(im.get(20, 12).r == 255);  // top edge
  CHECK(im.get(10, 20).r == 255);  // left edge
  CHECK(im.get(20, 20).r == 0);    // inside stays
  CHECK(im.get(30, 32).r == 0);    // past the corner
  CHECK(im.get(11, 6).r == 255);   // the label tab above the box
  CHECK(im.get(12, 6).g == 255);   // ...with "7" in white: the glyph's first row is full
  CHECK(im.get(12, 7).g == 0);     // its second row only the right column

  io::Image thick(40, 40, {0, 0, 0});
  draw_box(thick, 10, 10, 30, 30, {0, 0, 255}, "", 2);
  CHECK(thick.get(11, 20).b == 255);
  CHECK(thick.get(12, 20).b == 0);

  const auto digits = synthetic_digits(30, 255);
  auto o = small_options();
  const auto ds = make_digit_canvases(digits, o, Split::val);
  std::vector<io::Image> ims{ds.to_image(0), ds.to_image(1), ds.to_image(2)};
  std::vector<BoxTarget> truths;
  std::vector<std::vector<Detection>> preds(3);
  for (std::size_t i = 0; i < 3; ++i)
    for (const Box& b : ds.boxes_of(i)) {
      truths.push_back({i, b.cls, b.x, b.y, b.w, b.h});
      preds[i].push_back({(b.x - b.w / 2) * 64 + 1, (b.y - b.h / 2) * 64 + 1, (b.x + b.w / 2) * 64 + 1,
                          (b.y + b.h / 2) * 64 + 1, 0.87f, (b.cls + 1) % 10});
    }
  const io::Image g = detection_grid(ims, preds, truths, 2, 2);
  CHECK(g.width == 2 * (128 + 4) + 4);
  CHECK(g.height == 2 * (128 + 4) + 4);
  std::size_t green = 0, coloured = 0;
  for (int y = 0; y < g.height; ++y)
    for (int x = 0; x < g.width; ++x) {
      const auto c = g.get(x, y);
      green += c.r == truth_colour.r && c.g == truth_colour.g && c.b == truth_colour.b;
      const auto pc = class_colour((ds.boxes_of(0)[0].cls + 1) % 10);
      coloured += c.r == pc.r && c.g == pc.g && c.b == pc.b;
    }
  CHECK(green > 100);
  CHECK(coloured > 50);
  const std::string path = temp_dir("grid") + ".png";
  write_detection_grid(path, ims, preds, truths, 2);
  const auto back = io::read_image(path);
  CHECK(back.width == g.width);
  CHECK(back.rgb == g.rgb);
  if (const char* keep = std::getenv("ZOO_PNG_OUT")) io::save_png(std::string(keep) + "/detection_grid.png", g);
  fs::remove(path);
  CHECK_THROWS_AS(detection_grid(ims, std::vector<std::vector<Detection>>(2), truths), std::invalid_argument);
}

TEST_CASE("the digits set from MNIST, when present: tight boxes on real digits") {
  const std::string dir = std::string(ZOO_SOURCE_DIR) + "/data/mnist";
  if (!fs::exists(dir + "/train-images-idx3-ubyte.gz")) return;  // run scripts/fetch_data.sh
  DigitDetectionOptions o;
  o.train_count = 60, o.val_count = 20;
  const auto tr = make_digit_canvases(load_mnist(dir, "train"), o, Split::train);
  const auto va = make_digit_canvases(load_mnist(dir, "t10k"), o, Split::val);
  check_tight(tr, o.ink_threshold);
  check_tight(va, o.ink_threshold);
  for (std::size_t i = 0; i < tr.size(); ++i) {
    CHECK(tr.boxes_of(i).size() >= 1);
    CHECK(tr.boxes_of(i).size() <= 6);
  }
}

TEST_CASE("the generator's output is pinned: the same bytes on every machine, compiler and flag set") {
  // Integer resampling and zoo::Rng only: a change here means every stored set changes
  // (and its stamp should get a new version).
  const auto digits = synthetic_digits(50, 255);
  const auto ds = make_digit_canvases(digits, small_options(), Split::train);
  const std::string labels = format_yolo_labels(ds.boxes);
  const auto h_pixels = detail::fnv1a(ds.pixels);
  const auto h_labels = detail::fnv1a({reinterpret_cast<const std::uint8_t*>(labels.data()), labels.size()});
  CHECK(h_pixels == 6017519151590894800ULL);
  CHECK(h_labels == 12026121645787618821ULL);
  CHECK(ds.boxes.size() == 81);
}

TEST_CASE("data.yaml: YOLOv5's forms of names, paths relative to the file, and clear refusals") {
  const std::string root = temp_dir("yaml");
  fs::create_directories(root + "/sets/images/tr");
  spit(root + "/d.yaml",
       "# a v7.0-style file\npath: sets  # relative to this file\ntrain: images/tr\nval: \"images/va\"\n"
       "names:\n  0: cat\n  1: 'dog # not a comment'\n  2: bird\n");
  auto y = read_data_yaml(root + "/d.yaml");
  CHECK(y.path == root + "/sets");
  CHECK(y.train == root + "/sets/images/tr");
  CHECK(y.val == root + "/sets/images/va");
  CHECK(y.nc == 3);
  CHECK(y.names == std::vector<std::string>{"cat", "dog # not a comment", "bird"});
  spit(root + "/l.yaml", "train: a\nval: b\nnames:\n  - x\n  - y\n");
  y = read_data_yaml(root + "/l.yaml");
  CHECK(y.path == root);
  CHECK(y.names == std::vector<std::string>{"x", "y"});
  CHECK(y.nc == 2);
  spit(root + "/bad.yaml", "train: a\nnc: 3\nnames: ['a', 'b']\n");
  CHECK_THROWS_WITH(read_data_yaml(root + "/bad.yaml"), has(root + "/bad.yaml: nc is 3 but names lists 2"));
  spit(root + "/bad.yaml", "train: a\nnc: three\n");
  CHECK_THROWS_WITH(read_data_yaml(root + "/bad.yaml"), has(root + "/bad.yaml: line 2: nc 'three' is not a positive integer"));
  spit(root + "/bad.yaml", "train: list.txt\nnc: 3\n");
  CHECK_THROWS_WITH(read_data_yaml(root + "/bad.yaml"), has("image lists (.txt) are not supported"));
  spit(root + "/bad.yaml", "train: [a, b]\nnc: 3\n");
  CHECK_THROWS_WITH(read_data_yaml(root + "/bad.yaml"), has("line 1: train must be one directory"));
  spit(root + "/bad.yaml", "train: a\n");
  CHECK_THROWS_WITH(read_data_yaml(root + "/bad.yaml"), has("no classes"));
  CHECK_THROWS_WITH(read_yolo_yaml(root + "/d.yaml", "test", 16), has("has no 'test' entry"));
  CHECK_THROWS_AS(read_yolo_yaml(root + "/d.yaml", "images", 16), std::invalid_argument);
  fs::remove_all(root);
}

TEST_CASE("DetectionLoader shares each batch among ranks: the images, pixels and targets one process gives") {
  for (std::size_t n : {7u, 17u, 21u}) {
    DetectionSet ds;
    ds.count = n, ds.image_size = 8;
    ds.pixels.resize(n * ds.image_bytes());
    for (std::size_t i = 0; i < ds.pixels.size(); ++i) ds.pixels[i] = static_cast<std::uint8_t>(i * 7 + 3);
    ds.offsets = {0};
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < i % 3; ++k)
        ds.boxes.push_back({int(k), 0.5f, 0.5f, 0.2f + 0.1f * float(k), 0.3f});
      ds.offsets.push_back(ds.boxes.size());
    }
    AugmentOptions ao;
    ao.translate = 0.2, ao.scale_min = 0.8, ao.scale_max = 1.2;
    // One process at batch 1 gives the epoch's images in order, each with its own warp (the
    // order and the warps depend on seed, epoch and image only).
    DetectionLoader one(ds, {.batch_size = 1, .seed = 3, .augment = ao});
    std::vector<DetectionBatch> ref;
    one.start_epoch(1);
    for (DetectionBatch a; one.next(a);) ref.push_back(a);
    for (int k : {2, 3}) {
      std::size_t steps = 0;
      for (int r = 0; r < k; ++r) {
        DetectionLoader rl(ds, {.batch_size = 4, .seed = 3, .augment = ao, .rank = r, .world = k});
        rl.start_epoch(1);
        std::size_t pos = 0, s = 0;
        for (DetectionBatch c; rl.next(c); pos += c.global_size, ++s) {
          REQUIRE(c.size() >= 1);
          const std::size_t per = 3 * 64;
          for (std::size_t i = 0; i < c.size(); ++i) {
            const DetectionBatch& a = ref[pos + c.offset + i];
            CHECK(a.index[0] == c.index[i]);
            CHECK(std::equal(a.x.data(), a.x.data() + per, c.x.data() + i * per));
            std::size_t t = 0;
            for (const auto& tc : c.targets)
              if (tc.image == i) {
                REQUIRE(t < a.targets.size());
                CHECK(a.targets[t].x == tc.x);
                CHECK(a.targets[t].w == tc.w);
                CHECK(a.targets[t].cls == tc.cls);
                ++t;
              }
            CHECK(t == a.targets.size());
          }
        }
        CHECK(pos == n);  // every image once per epoch across ranks
        CHECK(s == rl.num_batches());
        if (r == 0) steps = s;
        CHECK(s == steps);  // every rank takes the same number of steps
      }
    }
  }
  DetectionSet tiny;
  tiny.count = 1, tiny.image_size = 8;
  tiny.pixels.resize(tiny.image_bytes());
  tiny.offsets = {0, 0};
  CHECK_THROWS_AS(DetectionLoader(tiny, {.batch_size = 4, .rank = 0, .world = 2}), std::invalid_argument);
  CHECK_THROWS_AS(DetectionLoader(tiny, {.batch_size = 1, .rank = 2, .world = 2}), std::invalid_argument);
}

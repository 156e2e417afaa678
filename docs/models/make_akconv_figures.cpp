// docs/models/make_akconv_figures.cpp — draws the two pictures of docs/models/akconv.md
// with zoo's PNG tools (zoo/io/png.hpp):
//   akconv_shapes.png   the initial sampling shapes p_n for N = 1..9
//   akconv_learned.png  offsets learned by gradient descent: a student AKConv (N = 5) whose
//                       offsets start at zero learns the offsets of a teacher (a plus shape),
//                       training only p_conv, on smooth random images; MSE on the outputs.
// Build and run from the repository root:
//   g++ -std=c++20 -O2 -fopenmp -Iinclude -I/usr/include/eigen3 \
//       docs/models/make_akconv_figures.cpp -o /tmp/akconv_figures && /tmp/akconv_figures docs/models
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>
#include <zoo/io/png.hpp>
#include <zoo/layers/akconv.hpp>

namespace {

using zoo::io::Image;
using zoo::io::Rgb;
namespace draw = zoo::io::draw;

int kCell = 26;  // pixels per input pixel in the drawings (larger for the learned offsets)
const Rgb kGrid{210, 210, 210}, kInk{40, 40, 40}, kGray{150, 150, 150};

// A panel of `cells`×`cells` input pixels with its top-left corner at (x0, y0).
void grid(Image& im, int x0, int y0, int cells) {
  for (int i = 0; i <= cells; ++i) {
    draw::line(im, x0, y0 + i * kCell, x0 + cells * kCell, y0 + i * kCell, kGrid);
    draw::line(im, x0 + i * kCell, y0, x0 + i * kCell, y0 + cells * kCell, kGrid);
  }
}
// Pixel centre of the (fractional) input position (r, c) in a panel.
int px(int x0, double c) { return x0 + int(std::lround((c + 0.5) * kCell)); }

void shapes(const std::string& dir) {
  const int cells = 3, pad = 18, panel = cells * kCell, top = 30;
  Image im(9 * (panel + pad) + pad, panel + top + pad);
  for (int n = 1; n <= 9; ++n) {
    const int x0 = pad + (n - 1) * (panel + pad), y0 = top;
    draw::text(im, x0 + panel / 2 - draw::text_width("N=" + std::to_string(n)) / 2, 8,
               "N=" + std::to_string(n), kInk);
    grid(im, x0, y0, cells);
    for (int k = 0; k < n; ++k) {
      const auto r = zoo::kernels::akconv_pn_row(n, k), c = zoo::kernels::akconv_pn_col(n, k);
      const int cx = px(x0, double(c)), cy = px(y0, double(r));
      draw::disc(im, cx, cy, 9, draw::palette(0));
      draw::text(im, cx - 2, cy - 4, std::to_string(k), Rgb{255, 255, 255}, 2);
    }
  }
  zoo::io::save_png(dir + "/akconv_shapes.png", im);
}

// Smooth random images: uniform noise blurred twice with a 5×5 box (per channel).
void smooth_images(std::vector<double>& x, std::size_t n, std::size_t C, std::size_t H,
                   std::size_t W, zoo::Rng& rng) {
  rng.fill_uniform(x.data(), x.size(), -1, 1);
  std::vector<double> tmp(H * W);
  for (std::size_t p = 0; p < n * C; ++p)
    for (int pass = 0; pass < 2; ++pass) {
      double* a = x.data() + p * H * W;
      for (std::size_t i = 0; i < H; ++i)
        for (std::size_t j = 0; j < W; ++j) {
          double s = 0;
          int cnt = 0;
          for (int di = -2; di <= 2; ++di)
            for (int dj = -2; dj <= 2; ++dj) {
              const long ii = long(i) + di, jj = long(j) + dj;
              if (ii >= 0 && jj >= 0 && ii < long(H) && jj < long(W)) s += a[ii * W + jj], ++cnt;
            }
          tmp[i * W + j] = 3 * s / cnt;
        }
      std::copy(tmp.begin(), tmp.end(), a);
    }
}

template <class L>
struct Owned {
  L layer;
  std::vector<double> params = std::vector<double>(L::num_params),
                      grads = std::vector<double>(L::num_params),
                      buffers = std::vector<double>(L::num_buffers);
  explicit Owned(std::size_t n, std::uint64_t seed) {
    double* p = params.data();
    double* g = grads.data();
    double* b = buffers.data();
    layer.bind_params(p, g);
    layer.bind_buffers(b);
    zoo::Rng rng(seed);
    layer.init(rng);
    layer.resize(n);
  }
};

void learned(const std::string& dir) {
  constexpr std::size_t N = 5, C = 3, H = 16, W = 16, B = 8;
  using L = zoo::bind_t<zoo::AKConv<6, N, 1>, double, zoo::Shape<C, H, W>>;
  Owned<L> teacher(B, 1), student(B, 1);  // same seed: same conv and BN parameters
  // Teacher: a plus shape around p_n's (1, 1): point k moves by (dr, dc).
  const double target[N][2] = {{0, 1}, {1, -1}, {0, 1}, {0, 1}, {0, 1}};
  // p_n (0,0) (0,1) (1,0) (1,1) (2,0) + target = (0,1) (1,0) (1,1) (1,2) (2,1): a plus.
  for (std::size_t k = 0; k < N; ++k) {
    teacher.layer.p_conv.bias[k] = target[k][0];
    teacher.layer.p_conv.bias[N + k] = target[k][1];
  }
  std::fill(student.layer.p_conv.bias, student.layer.p_conv.bias + 2 * N, 0.0);
  constexpr std::size_t PW = L::PConv::weight_size;
  std::vector<double> x(B * L::input_shape::size), yt(B * L::output_shape::size), ys(yt.size()),
      dy(yt.size()), mb(2 * N, 0), vb(2 * N, 0), mw(PW, 0), vw(PW, 0);
  zoo::Rng rng(5);
  const double lr = 0.02, b1 = 0.9, b2 = 0.999;
  std::vector<std::array<double, 2 * N>> trail;
  for (int step = 1; step <= 1500; ++step) {
    smooth_images(x, B, C, H, W, rng);
    teacher.layer.forward(x.data(), yt.data(), B);
    student.layer.forward(x.data(), ys.data(), B);
    double loss = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      const double d = ys[i] - yt[i];
      loss += d * d;
      dy[i] = 2 * d / double(ys.size());
    }
    std::fill(student.grads.begin(), student.grads.end(), 0.0);
    student.layer.backward(x.data(), ys.data(), dy.data(), nullptr, B);
    // Adam on p_conv only: the conv and BN stay the teacher's, so each point k has one
    // place to go.
    auto adam = [&](double* p, const double* g, double* m, double* v, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const double mh = m[i] / (1 - std::pow(b1, step)), vh = v[i] / (1 - std::pow(b2, step));
        p[i] -= lr * (1.0 - step / 1600.0) * mh / (std::sqrt(vh) + 1e-8);
      }
    };
    adam(student.layer.p_conv.bias, student.layer.p_conv.dbias, mb.data(), vb.data(), 2 * N);
    adam(student.layer.p_conv.weight, student.layer.p_conv.dweight, mw.data(), vw.data(), PW);
    if (step % 25 == 1 || step == 1500) {
      std::array<double, 2 * N> o{};
      for (std::size_t k = 0; k < 2 * N; ++k) o[k] = student.layer.p_conv.bias[k];
      trail.push_back(o);
    }
    if (step % 300 == 0) std::printf("step %4d  loss %.3g\n", step, loss / ys.size());
  }
  // Mean learned offset over the interior of a fresh batch (p_conv's weights may add
  // a content-dependent part; the bias is most of it).
  smooth_images(x, B, C, H, W, rng);
  student.layer.forward(x.data(), ys.data(), B);
  double mean[2 * N] = {};
  std::size_t cnt = 0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t i = 3; i < H - 3; ++i)
      for (std::size_t j = 3; j < W - 3; ++j, ++cnt)
        for (std::size_t k = 0; k < 2 * N; ++k)
          mean[k] += student.layer.offset[(b * 2 * N + k) * H * W + i * W + j];
  for (auto& m : mean) m /= double(cnt);
  for (std::size_t k = 0; k < N; ++k)
    std::printf("point %zu: learned offset (%.3f, %.3f), teacher (%.0f, %.0f)\n", k, mean[k],
                mean[N + k], target[k][0], target[k][1]);

  kCell = 48;
  const int cells = 4, pad = 24, top = 34, x0 = pad, y0 = top;
  Image im(cells * kCell + 2 * pad + 170, cells * kCell + top + pad);
  draw::text(im, pad, 8, "N=5: INITIAL, LEARNED, TARGET", kInk);
  grid(im, x0, y0, cells);
  for (std::size_t k = 0; k < N; ++k) {
    const double r0 = double(zoo::kernels::akconv_pn_row(N, k)),
                 c0 = double(zoo::kernels::akconv_pn_col(N, k));
    const Rgb col = draw::palette(k);
    for (std::size_t t = 1; t < trail.size(); ++t)  // the path the bias took
      draw::line(im, px(x0, c0 + trail[t - 1][N + k]), px(y0, r0 + trail[t - 1][k]),
                 px(x0, c0 + trail[t][N + k]), px(y0, r0 + trail[t][k]), col);
    draw::disc(im, px(x0, c0), px(y0, r0), 5, kGray);                                // initial
    const int tx = px(x0, c0 + target[k][1]), ty = px(y0, r0 + target[k][0]);
    draw::rect(im, tx - 13 + int(k), ty - 13 + int(k), tx + 13 - int(k), ty + 13 - int(k), col);  // target
  }
  for (std::size_t k = 0; k < N; ++k) {  // learned positions last, on top of everything
    const double r0 = double(zoo::kernels::akconv_pn_row(N, k)),
                 c0 = double(zoo::kernels::akconv_pn_col(N, k));
    const int lxp = px(x0, c0 + mean[N + k]), lyp = px(y0, r0 + mean[k]);
    draw::disc(im, lxp, lyp, 8, draw::palette(k));
    draw::text(im, lxp - 2, lyp - 4, std::to_string(k), Rgb{255, 255, 255}, 2);
  }
  const int lx = x0 + cells * kCell + 20;
  draw::disc(im, lx + 5, y0 + 10, 4, kGray);
  draw::text(im, lx + 16, y0 + 5, "INITIAL P_N", kInk);
  draw::disc(im, lx + 5, y0 + 34, 5, draw::palette(0));
  draw::text(im, lx + 16, y0 + 29, "LEARNED", kInk);
  draw::rect(im, lx - 3, y0 + 50, lx + 13, y0 + 66, draw::palette(0));
  draw::text(im, lx + 16, y0 + 53, "TEACHER", kInk);
  draw::line(im, lx - 3, y0 + 86, lx + 13, y0 + 86, draw::palette(0));
  draw::text(im, lx + 16, y0 + 81, "PATH", kInk);
  zoo::io::save_png(dir + "/akconv_learned.png", im);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  shapes(dir);
  learned(dir);
  std::printf("wrote %s/akconv_shapes.png and %s/akconv_learned.png\n", dir.c_str(), dir.c_str());
}

// zoo/io/progress.hpp — a tqdm-like progress bar on stderr and a CSV metric log.
//
//   zoo::io::Progress bar(steps_per_epoch, {.epoch = e, .epochs = E});
//   for (...) { ...; bar.update(loss); }   // "epoch 2/10  37%|█████▌     | 150/400 [00:03<00:05, 46.1 it/s, loss=0.0312]"
//   bar.close();
//   // before an update, bar.set_postfix("D=0.61, G=1.4") adds numbers after the loss (a GAN's two losses)
//
// On a terminal the line redraws in place (at most ~10 times a second); when
// stderr is a file or pipe (CI logs) it prints a plain line every `every`
// seconds and at the end, so logs stay readable. The loss shown is an
// exponential moving average (tqdm's smoothing 0.3 on a window of updates).
#pragma once
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "error.hpp"

namespace zoo::io {

struct ProgressOptions {
  long epoch = -1, epochs = -1;  // shown as "epoch e/E" when set (e counts from 1)
  std::string desc;
  double every = 10.0;  // seconds between plain lines when not a terminal
  int width = 24;       // bar cells
  std::FILE* out = stderr;
  int tty = -1;         // -1: ask isatty(out); 0/1 force
  double smoothing = 0.1;
  bool leave = true;  // on a terminal, keep the finished bar's line (false: erase it, as tqdm's leave=False)
};

inline std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = static_cast<long>(s + 0.5);
  char b[32];
  if (t >= 3600) std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(b, sizeof b, "%02ld:%02ld", t / 60, t % 60);
  return b;
}

class Progress {
  using clock = std::chrono::steady_clock;

 public:
  explicit Progress(std::size_t total, ProgressOptions o = {})
      : total_(total), o_(std::move(o)), start_(clock::now()), last_(start_) {
    tty_ = o_.tty >= 0 ? o_.tty == 1 : ::isatty(::fileno(o_.out)) == 1;
  }
  ~Progress() {
    if (!closed_) close();
  }

  // One step done; `loss` (optional, NaN = none) feeds the running average.
  void update(double loss = NAN, std::size_t steps = 1) {
    n_ += steps;
    if (std::isfinite(loss)) {
      avg_ = have_ ? (1 - o_.smoothing) * avg_ + o_.smoothing * loss : loss;
      have_ = true;
    }
    const auto now = clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if ((tty_ && since >= 0.1) || (!tty_ && since >= o_.every) || n_ == total_) {
      last_ = now;
      draw(n_ == total_);
    }
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    if (tty_ && !o_.leave) {
      if (drawn_ != SIZE_MAX) std::fputs("\r\x1b[K", o_.out);
      std::fflush(o_.out);
      return;
    }
    if (drawn_ != n_) draw(true);
    if (tty_) std::fputc('\n', o_.out);
    std::fflush(o_.out);
  }

  // Text shown after the loss, e.g. "D=0.61, G=1.4"; drawn with the next update.
  void set_postfix(std::string p) { postfix_ = std::move(p); }

  double running_loss() const { return have_ ? avg_ : NAN; }
  std::size_t count() const { return n_; }
  // The current status text without the bar (what plain lines print).
  std::string status() const {
    const double el = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = el > 0 ? static_cast<double>(n_) / el : 0;
    const double eta = rate > 0 && total_ >= n_ ? static_cast<double>(total_ - n_) / rate : NAN;
    char b[256];
    std::string head = o_.desc;
    if (o_.epoch >= 0) {
      char e[64];
      if (o_.epochs > 0) std::snprintf(e, sizeof e, "epoch %ld/%ld", o_.epoch, o_.epochs);
      else std::snprintf(e, sizeof e, "epoch %ld", o_.epoch);
      if (!head.empty()) head += ' ';  // (appends, not "literal" + string&&: g++ 12
      head += e;                         //  warns -Wrestrict on that, a false positive)
    }
    std::snprintf(b, sizeof b, "%zu/%zu [%s<%s, %.1f it/s", n_, total_, format_duration(el).c_str(),
                  format_duration(eta).c_str(), rate);
    std::string s = head.empty() ? b : head + " " + b;
    if (have_) {
      char l[48];
      std::snprintf(l, sizeof l, ", loss=%.4g", avg_);
      s += l;
    }
    if (!postfix_.empty()) {
      s += ", ";
      s += postfix_;
    }
    return s + "]";
  }

 private:
  void draw(bool final) {
    drawn_ = n_;
    if (!tty_) {
      std::fprintf(o_.out, "%s\n", status().c_str());
      std::fflush(o_.out);
      return;
    }
    const double frac = total_ ? std::min(1.0, static_cast<double>(n_) / total_) : 1.0;
    static const char* eighths[] = {"", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589"};
    const int cells8 = static_cast<int>(frac * o_.width * 8);
    std::string bar;
    for (int i = 0; i < cells8 / 8; ++i) bar += "\u2588";
    bar += eighths[cells8 % 8];
    const int used = cells8 / 8 + (cells8 % 8 ? 1 : 0);
    bar.append(static_cast<std::size_t>(o_.width - used), ' ');
    // status() is "head n/total [...]"; put the percentage and bar before the counts.
    std::string st = status();
    // (Find "n/total [", not "n/": a head "epoch 2/5" holds "2/" too.)
    const auto cut = st.find(std::to_string(n_) + "/" + std::to_string(total_) + " [");
    std::fprintf(o_.out, "\r%s%3d%%|%s| %s\x1b[K", st.substr(0, cut).c_str(), static_cast<int>(frac * 100),
                 bar.c_str(), st.substr(cut).c_str());
    (void)final;
    std::fflush(o_.out);
  }

  std::size_t total_, n_ = 0, drawn_ = SIZE_MAX;
  ProgressOptions o_;
  std::string postfix_;
  clock::time_point start_, last_;
  bool tty_ = false, closed_ = false, have_ = false;
  double avg_ = 0;
};

// A CSV file of metrics, one row per call: a header from the first row's keys,
// numbers in full precision, flushed each row so a crashed run keeps its log.
class CsvLog {
 public:
  CsvLog(const std::string& path, std::vector<std::string> columns) : path_(path), cols_(std::move(columns)) {
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) throw IoError(path, "cannot open for writing");
    for (std::size_t i = 0; i < cols_.size(); ++i) std::fprintf(f_, "%s%s", i ? "," : "", cols_[i].c_str());
    std::fputc('\n', f_);
    std::fflush(f_);
  }
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;
  ~CsvLog() {
    if (f_) std::fclose(f_);
  }
  void row(const std::vector<double>& values) {
    if (values.size() != cols_.size())
      throw IoError(path_, "CSV row has " + std::to_string(values.size()) + " values for " +
                               std::to_string(cols_.size()) + " columns");
    for (std::size_t i = 0; i < values.size(); ++i) std::fprintf(f_, "%s%.9g", i ? "," : "", values[i]);
    std::fputc('\n', f_);
    std::fflush(f_);
  }

 private:
  std::string path_;
  std::vector<std::string> cols_;
  std::FILE* f_ = nullptr;
};

}  // namespace zoo::io

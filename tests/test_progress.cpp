// Progress bar (terminal and plain modes, written to a temporary file) and CSV log.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "zoo/io/progress.hpp"

using namespace zoo::io;

namespace {
std::string slurp(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
  return s;
}
}  // namespace

TEST_CASE("plain mode prints whole lines: first at the end when updates are fast") {
  std::FILE* f = std::tmpfile();
  {
    Progress p(50, {.epoch = 2, .epochs = 5, .every = 3600, .out = f, .tty = 0});
    for (int i = 0; i < 50; ++i) p.update(1.0);
    CHECK(p.running_loss() == doctest::Approx(1.0));
  }
  const auto s = slurp(f);
  INFO(s);
  CHECK(s.find("epoch 2/5 50/50 [") != std::string::npos);
  CHECK(s.find("it/s, loss=1]") != std::string::npos);
  CHECK(s.find('\r') == std::string::npos);
  CHECK(std::count(s.begin(), s.end(), '\n') == 1);  // once, at 50/50; close adds nothing new
  std::fclose(f);
}

TEST_CASE("terminal mode redraws in place with a bar and percentage") {
  std::FILE* f = std::tmpfile();
  Progress p(8, {.desc = "train", .width = 8, .out = f, .tty = 1});
  for (int i = 0; i < 4; ++i) p.update(0.5 + i);
  p.update(NAN, 4);
  p.close();
  const auto s = slurp(f);
  INFO(s);
  CHECK(s.find("\rtrain 100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 8/8 [") != std::string::npos);
  CHECK(s.find("loss=") != std::string::npos);
  CHECK(s.back() == '\n');
  CHECK(p.count() == 8);
  // The running loss is an exponential moving average: 0.5, then 0.9·avg + 0.1·x.
  double avg = 0.5;
  for (int i = 1; i < 4; ++i) avg = 0.9 * avg + 0.1 * (0.5 + i);
  CHECK(p.running_loss() == doctest::Approx(avg));
  std::fclose(f);
}

TEST_CASE("terminal mode: an epoch head whose numbers repeat the counts is not cut there") {
  // "epoch 2/2 2/2 [..." holds "2/" twice; the bar goes before the counts, not inside the head.
  std::FILE* f = std::tmpfile();
  Progress p(2, {.epoch = 2, .epochs = 2, .width = 4, .out = f, .tty = 1});
  p.update(1.0, 2);
  p.close();
  const auto s = slurp(f);
  INFO(s);
  CHECK(s.find("\repoch 2/2 100%|\u2588\u2588\u2588\u2588| 2/2 [") != std::string::npos);
  std::fclose(f);
}

TEST_CASE("set_postfix adds text after the loss; leave = false erases the finished bar") {
  std::FILE* f = std::tmpfile();
  {
    Progress p(3, {.every = 3600, .out = f, .tty = 0});
    p.set_postfix("D=0.61, G=1.4");
    for (int i = 0; i < 3; ++i) p.update(0.25);
  }
  const auto plain = slurp(f);
  INFO(plain);
  CHECK(plain.find("loss=0.25, D=0.61, G=1.4]") != std::string::npos);
  std::fclose(f);

  std::FILE* g = std::tmpfile();
  Progress q(4, {.width = 4, .out = g, .tty = 1, .leave = false});
  q.update(1.0, 4);
  q.close();
  const auto t = slurp(g);
  INFO(t);
  CHECK(t.find("4/4 [") != std::string::npos);              // it was drawn
  CHECK(t.size() >= 4);
  CHECK(t.compare(t.size() - 4, 4, "\r\x1b[K") == 0);          // then erased: no newline left
  CHECK(t.find('\n') == std::string::npos);
  std::fclose(g);
}

TEST_CASE("durations format as mm:ss and h:mm:ss") {
  CHECK(format_duration(5) == "00:05");
  CHECK(format_duration(125) == "02:05");
  CHECK(format_duration(3 * 3600 + 61) == "3:01:01");
  CHECK(format_duration(NAN) == "?");
}

TEST_CASE("CsvLog writes a header and full-precision rows") {
  const auto path = (std::filesystem::temp_directory_path() / ("zoo_csv_" + std::to_string(::getpid()) + ".csv")).string();
  {
    CsvLog log(path, {"step", "loss", "lr"});
    log.row({1, 0.123456789012, 1e-3});
    log.row({2, 0.1, 1e-3});
    CHECK_THROWS_AS(log.row({3}), zoo::IoError);
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "step,loss,lr\n1,0.123456789,0.001\n2,0.1,0.001\n");
  std::filesystem::remove(path);
  CHECK_THROWS_AS(CsvLog("/nonexistent-dir/x.csv", {"a"}), zoo::IoError);
}

// examples/cli.hpp — the command line the example programs share, on CLI11
// (Debian: libcli11-dev, header-only).
//
//   CLI::App app{"trains ...", "gan"};
//   cli::threads(app, a.threads);                  // the options every example has
//   app.add_option("--iters", a.iters, "...")->check(cli::integer(1));
//   cli::parse_or_exit(app, argc, argv);
//
// --help (-h) prints the usage on stdout and exits 0. Every value is checked
// while parsing, before any data is read; a bad or unknown argument prints ONE
// line on stderr that names the option and what is wrong, and exits 2:
//
//   gan: --batch: must be an integer >= 2 (batch norm needs 2 images), got 0 (see gan --help)
//
// A repeated option keeps its last value, as the hand-written parsers did.
#pragma once
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>

namespace cli {

// The message on one line: CLI11's messages may hold newlines.
inline std::string one_line(const std::string& s) {
  std::string r;
  for (const char ch : s) {
    const char c = ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : ch;
    if (c == ' ' && (r.empty() || r.back() == ' ')) continue;
    r += c;
  }
  while (!r.empty() && r.back() == ' ') r.pop_back();
  return r;
}

// A usage error found after parsing (option combinations, missing files): one
// line on stderr, exit 2.
[[noreturn]] inline void fail(const CLI::App& app, const std::string& what) {
  const std::string name = app.get_name();
  std::fprintf(stderr, "%s: %s (see %s --help)\n", name.c_str(), one_line(what).c_str(), name.c_str());
  std::exit(2);
}

// Parses argv; returns only when every argument is valid.
inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    std::exit(0);
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    fail(app, e.what());
  }
}

// An app with the examples' defaults: a repeated option keeps its last value.
inline void setup(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(34);
}

// ------------------------------------------------------------------ validators
// Each reads the text before CLI11 converts it, so "-1" never wraps into a huge
// unsigned number and "1.5" is not an integer.

// An integer in [lo, hi]; `why` (optional) says why the bound is there.
inline CLI::Validator integer(long long lo, long long hi = std::numeric_limits<int>::max(),
                              const std::string& why = "") {
  const bool unbounded = hi == std::numeric_limits<int>::max();
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  const std::string bound = unbounded ? ">= " + std::to_string(lo) : "in " + range;
  const std::string note = why.empty() ? "" : " (" + why + ")";
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        long long v = 0;
        if (!CLI::detail::lexical_cast(in, v) || v < lo || v > hi)
          return "must be an integer " + bound + note + ", got " + in;
        return {};
      },
      unbounded ? bound : range);
}

// A finite number > 0 (or >= 0 with `zero_ok`).
inline CLI::Validator number(bool zero_ok = false) {
  const std::string bound = zero_ok ? ">= 0" : "> 0";
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(in, v) || !std::isfinite(v) || v < 0 || (v == 0 && !zero_ok))
          return "must be a number " + bound + ", got " + in;
        return {};
      },
      bound);
}

// Any integer in [0, 2^64).
inline CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& in) -> std::string {
        std::uint64_t v = 0;
        const bool digits = !in.empty() && in.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || !CLI::detail::lexical_cast(in, v)) return "must be an integer in [0, 2^64), got " + in;
        return {};
      },
      "");
}

// mnist, fashion, or a directory of {train,t10k}-{images,labels}-idx*-ubyte(.gz).
inline CLI::Validator dataset() {
  return CLI::Validator(
      [](std::string& in) -> std::string {
        if (in == "mnist" || in == "fashion" || std::filesystem::is_directory(in)) return {};
        return "must be mnist, fashion or a directory of IDX files, got " + in + " (no such directory)";
      },
      "");
}

// ------------------------------------------------------------------ common options
inline CLI::Option* threads(CLI::App& app, int& v) {
  return app.add_option("--threads", v, "OpenMP threads (default: OMP_NUM_THREADS, else all cores)")
      ->check(integer(1, 4096));
}
inline CLI::Option* seed(CLI::App& app, std::uint64_t& v) {
  return app.add_option("--seed", v, "seed of the weights, data order and noise")->check(seed_value())
      ->capture_default_str();
}
inline CLI::Option* data(CLI::App& app, std::string& v) {
  return app.add_option("--data", v, "mnist, fashion (Fashion-MNIST) or a directory of IDX files")
      ->type_name("mnist|fashion|DIR")->check(dataset())->capture_default_str();
}
inline CLI::Option* out(CLI::App& app, std::string& v, const std::string& default_text) {
  return app.add_option("--out", v, "output directory (default: " + default_text + ")")->type_name("DIR");
}
inline CLI::Option* epochs(CLI::App& app, int& v) {
  return app.add_option("--epochs", v, "epochs to train")->check(integer(1, 1000000))->capture_default_str();
}
inline CLI::Option* batch(CLI::App& app, std::size_t& v, long long min = 1, const std::string& why = "") {
  return app.add_option("--batch", v, "images per training step")->check(integer(min, 1000000, why));
}
inline CLI::Option* lr(CLI::App& app, double& v) {
  return app.add_option("--lr", v, "Adam's learning rate")->check(number())->capture_default_str();
}
inline CLI::Option* minutes(CLI::App& app, double& v) {
  return app.add_option("--minutes", v, "stop after this many minutes of training (default: no limit)")
      ->check(number());
}

}  // namespace cli

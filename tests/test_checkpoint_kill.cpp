// Killing a program while it writes a checkpoint leaves the previous checkpoint
// intact: a forked child rewrites a 32 MB checkpoint in a loop and is SIGKILLed
// at a moment when its temporary file is seen half written.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "zoo/io/safetensors.hpp"

namespace fs = std::filesystem;
using namespace zoo;

namespace {
constexpr std::size_t kTensors = 8, kFloats = 1 << 20;  // 8 × 4 MB

void write_version(const std::string& path, int version) {
  std::vector<io::OutTensor> ts;
  std::vector<float> v(kFloats, static_cast<float>(version));
  for (std::size_t k = 0; k < kTensors; ++k) {
    std::string name = "t";
    name += std::to_string(k);
    ts.push_back(io::out_tensor<float>(name, "F32", {kFloats}, v.data(), kFloats));
  }
  io::write_safetensors(path, ts, {{"version", std::to_string(version)}});
}

// The file parses, and every value equals the version its header names.
int check_complete(const std::string& path) {
  const auto f = io::read_safetensors(path);
  const int version = std::stoi(f.meta("version").value());
  REQUIRE(f.tensors.size() == kTensors);
  for (const auto& t : f.tensors) {
    std::vector<float> v(kFloats);
    io::convert_into(t, v.data(), path);
    REQUIRE(std::all_of(v.begin(), v.end(), [&](float x) { return x == static_cast<float>(version); }));
  }
  return version;
}
}  // namespace

TEST_CASE("SIGKILL during a checkpoint write leaves the previous checkpoint intact") {
  const auto dir = fs::temp_directory_path() / ("zoo_kill_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();
  write_version(path, 1);
  const std::uint64_t full = fs::file_size(path);

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (int v = 2;; ++v) write_version(path, v);  // killed below
  }
  const std::string tmp = path + ".tmp." + std::to_string(child);
  bool partial = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!partial && std::chrono::steady_clock::now() < deadline) {
    struct stat st {};
    if (::stat(tmp.c_str(), &st) == 0 && st.st_size > 0 && static_cast<std::uint64_t>(st.st_size) < full)
      partial = true;
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(partial);  // it really died in the middle of a write
  const int version = check_complete(path);
  MESSAGE("after the kill the checkpoint is complete version " << version
                                                               << "; the half-written temp file is "
                                                               << (fs::exists(tmp) ? fs::file_size(tmp) : 0)
                                                               << " of " << full << " bytes");
  CHECK(fs::file_size(path) == full);
  fs::remove_all(dir);
}

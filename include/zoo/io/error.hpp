// zoo/io/error.hpp — the one exception type of zoo's readers and writers.
//
// Every message names the file (or "<memory>") and what is wrong with it, so a
// user with a truncated download or a hostile file knows which and why.
#pragma once
#include <stdexcept>
#include <string>

namespace zoo {

class IoError : public std::runtime_error {
 public:
  IoError(const std::string& file, const std::string& what)
      : std::runtime_error(file + ": " + what), file_(file) {}
  const std::string& file() const noexcept { return file_; }

 private:
  std::string file_;
};

}  // namespace zoo

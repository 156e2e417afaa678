// libFuzzer: the .pt reader (ZIP directory + restricted unpickler) on arbitrary bytes.
#include <cstdint>
#include <vector>

#include "zoo/io/torch_pt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = zoo::io::parse_pt(std::vector<std::uint8_t>(data, data + size), "fuzz");
    volatile std::uint8_t sink = 0;
    for (const auto& t : f.tensors)
      for (std::size_t i = 0; i < t.nbytes; ++i) sink = sink + t.data[i];
  } catch (const zoo::IoError&) {
  }
  return 0;
}

// libFuzzer: the .pt reader (ZIP directory + restricted unpickler + strided
// views materialised from their storages) on arbitrary bytes; every accepted
// tensor is read in full and converted (F16/BF16 included), so ASan sees any
// view that leaves its storage.
#include <cstdint>
#include <vector>

#include "zoo/io/torch_pt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = zoo::io::parse_pt(std::vector<std::uint8_t>(data, data + size), "fuzz");
    volatile std::uint8_t sink = 0;
    for (const auto& t : f.tensors) {
      for (std::size_t i = 0; i < t.nbytes; ++i) sink = sink + t.data[i];
      if (zoo::io::dtype_supported(t.dtype) && t.numel() < (1u << 20)) {
        std::vector<double> v(t.numel());
        zoo::io::convert_into(t, v.data(), "fuzz");
      }
    }
  } catch (const zoo::IoError&) {
  }
  return 0;
}

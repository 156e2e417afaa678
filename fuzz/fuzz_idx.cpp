// libFuzzer: the IDX reader on arbitrary bytes — raw, and gzip through the
// streaming reader (header first, then exactly the announced payload, with a
// 16 MiB cap so a bomb is a clean error, not an OOM). Any exception other than
// IoError, any crash or sanitizer report is a finding.
#include <cstdint>
#include <vector>

#include "zoo/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  try {
    auto a = zoo::io::is_gzip(bytes) ? zoo::data::parse_idx_gz(bytes, "fuzz.gz", 1 << 24)
                                     : zoo::data::parse_idx(std::move(bytes), "fuzz");
    if (a.count() * zoo::data::idx_type_size(static_cast<std::uint8_t>(a.type)) != a.bytes.size())
      __builtin_trap();  // the checks let a size mismatch through
    if (a.type == zoo::data::IdxType::u8 && a.dims.size() == 3) (void)zoo::data::idx_images(std::move(a), "fuzz");
  } catch (const zoo::IoError&) {
  }
  return 0;
}

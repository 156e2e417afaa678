// zoo/io/json.hpp — a small, strict JSON (RFC 8259) reader and string escaper,
// enough for safetensors headers.
//
// Strict means: one value and only whitespace after it, no trailing commas, no
// leading zeros, no NaN/Infinity, escapes checked (\uXXXX with surrogate pairs
// → UTF-8), no raw control characters in strings, every string valid UTF-8
// (RFC 8259 §8.1: no overlong forms, no encoded surrogates, nothing past
// U+10FFFF, no truncated sequences), no duplicate object keys, nesting at most
// 64 deep. Numbers keep their text so integers up to 2^64−1 (byte offsets) read
// exactly. Errors throw IoError with the byte position.
//
// Hostile headers are bounded: duplicate keys are found by sorting each
// object's keys once (O(k log k), not a pairwise scan), and Limits caps the
// keys of one object and the values of the whole document, so a 100 MB header
// of tiny values cannot turn into gigabytes of Value nodes.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.hpp"

namespace zoo::io::json {

struct Value {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool b = false;
  std::string text;  // string contents, or a number's literal text
  std::vector<Value> items;                         // array
  std::vector<std::string> keys;  // object, in file order (two vectors: a pair would
  std::vector<Value> values;      // need Value complete here)

  bool is_object() const { return kind == Kind::object; }
  bool is_array() const { return kind == Kind::array; }
  bool is_string() const { return kind == Kind::string; }
  const Value* find(std::string_view key) const {
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return &values[i];
    return nullptr;
  }
  // The number as an unsigned 64-bit integer; false if it is not one exactly.
  bool as_u64(std::uint64_t& out) const {
    if (kind != Kind::number || text.empty() || text[0] == '-') return false;
    std::uint64_t v = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return false;  // fraction or exponent
      const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
      if (v > (UINT64_MAX - d) / 10) return false;
      v = v * 10 + d;
    }
    out = v;
    return true;
  }
};

// A safetensors header has one key per tensor and about ten values per entry;
// the largest published checkpoints hold a few thousand tensors per file. A
// Value is ~112 bytes, so the value cap bounds a document at ~60 MB of nodes
// (2× for vector growth) whatever its text holds; each one is a page fault or
// two on a VM, which is what the cap's time costs.
struct Limits {
  std::size_t max_object_keys = std::size_t{1} << 18;
  std::size_t max_values = std::size_t{1} << 19;
};

// Length of the UTF-8 sequence starting at s[i] if it is well formed (1..4),
// else 0. Ranges as in RFC 3629 §4 (Unicode's table 3-7).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = at(i);
  if (c < 0x80) return 1;
  std::size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;       // overlong below U+0800
    else if (c == 0xED) hi = 0x9F;  // U+D800..U+DFFF, the surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;       // overlong below U+10000
    else if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;  // continuation byte, C0/C1 (overlong ASCII) or F5..FF
  }
  if (s.size() - i < len) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if ((at(i + k) & 0xC0) != 0x80) return 0;
  return len;
}

// Offset of the first byte of `s` that is not valid UTF-8, or npos.
inline std::size_t utf8_invalid_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

class Parser {
 public:
  Parser(std::string_view s, std::string name, Limits lim = {}) : s_(s), name_(std::move(name)), lim_(lim) {}

  Value parse() {
    Value v = value(0);
    ws();
    if (i_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(i_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    throw IoError(name_, "invalid JSON at byte " + std::to_string(at) + ": " + what);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  void literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) fail("unknown literal");
    i_ += w.size();
  }

  Value value(int depth) {
    if (depth > 64) fail("nesting deeper than 64");
    ws();
    if (i_ >= s_.size()) fail("unexpected end of input");
    if (++values_ > lim_.max_values)
      fail("more than " + std::to_string(lim_.max_values) + " values in the document");
    Value v;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Value::Kind::object;
      if (eat('}')) return v;
      std::vector<std::size_t> at;  // each key's byte offset, for the duplicate message
      do {
        ws();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string key");
        if (v.keys.size() == lim_.max_object_keys)
          fail("object has more than " + std::to_string(lim_.max_object_keys) + " keys");
        at.push_back(i_);
        std::string key = string();
        expect(':');
        v.values.push_back(value(depth + 1));
        v.keys.push_back(std::move(key));
      } while (eat(','));
      expect('}');
      check_unique(v.keys, at);
    } else if (c == '[') {
      ++i_;
      v.kind = Value::Kind::array;
      if (eat(']')) return v;
      do v.items.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Value::Kind::string;
      v.text = string();
    } else if (c == 't') {
      literal("true");
      v.kind = Value::Kind::boolean, v.b = true;
    } else if (c == 'f') {
      literal("false");
      v.kind = Value::Kind::boolean;
    } else if (c == 'n') {
      literal("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Value::Kind::number;
      v.text = number();
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    return v;
  }

  // Sort the key indices once; equal keys end up adjacent. The later of the
  // two in file order is reported, as a pairwise scan would have.
  void check_unique(const std::vector<std::string>& keys, const std::vector<std::size_t>& at) const {
    if (keys.size() < 2) return;
    std::vector<std::uint32_t> order(keys.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<std::uint32_t>(k);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      const int c = keys[a].compare(keys[b]);
      return c != 0 ? c < 0 : a < b;
    });
    std::size_t first = SIZE_MAX;
    for (std::size_t k = 1; k < order.size(); ++k)
      if (keys[order[k]] == keys[order[k - 1]]) first = std::min<std::size_t>(first, order[k]);
    if (first != SIZE_MAX) fail_at(at[first], "duplicate key \"" + keys[first] + "\"");
  }

  std::string number() {
    const std::size_t start = i_;
    auto digit = [&] { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; };
    if (s_[i_] == '-') ++i_;
    if (!digit()) fail("expected a digit");
    if (s_[i_] == '0') {
      ++i_;
      if (digit()) fail("leading zero");
    } else {
      while (digit()) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digit()) fail("expected a digit after '.'");
      while (digit()) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digit()) fail("expected a digit in the exponent");
      while (digit()) ++i_;
    }
    return std::string(s_.substr(start, i_ - start));
  }

  unsigned hex4() {
    if (s_.size() - i_ < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }
  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) out += char(0xC0 | cp >> 6), out += char(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
      out += char(0xE0 | cp >> 12), out += char(0x80 | (cp >> 6 & 0x3F)), out += char(0x80 | (cp & 0x3F));
    else
      out += char(0xF0 | cp >> 18), out += char(0x80 | (cp >> 12 & 0x3F)),
          out += char(0x80 | (cp >> 6 & 0x3F)), out += char(0x80 | (cp & 0x3F));
  }
  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail_at(i_ - 1, "raw control character in a string");
      if (static_cast<unsigned char>(c) >= 0x80) {
        const std::size_t n = utf8_sequence(s_, i_ - 1);
        if (n == 0) fail_at(i_ - 1, "invalid UTF-8 in a string (byte " + hex(c) + ")");
        out.append(s_.substr(i_ - 1, n));
        i_ += n - 1;
        continue;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      switch (s_[i_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.substr(i_, 2) != "\\u") fail("high surrogate without its pair");
            i_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: fail("unknown escape");
      }
    }
  }

  static std::string hex(char c) {
    char b[8];
    std::snprintf(b, sizeof b, "0x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    return b;
  }

  std::string_view s_;
  std::string name_;
  Limits lim_;
  std::size_t i_ = 0, values_ = 0;
};

inline Value parse(std::string_view s, const std::string& name = "<json>", Limits lim = {}) {
  return Parser(s, name, lim).parse();
}

// `s` as a JSON string literal, quotes included. `s` must be valid UTF-8, so
// that zoo never writes a file its own strict reader would refuse.
inline std::string quote(std::string_view s) {
  if (const std::size_t bad = utf8_invalid_at(s); bad != std::string_view::npos)
    throw std::invalid_argument("zoo::io::json::quote: invalid UTF-8 at byte " + std::to_string(bad) +
                                " of a string to be written");
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
          out += b;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace zoo::io::json

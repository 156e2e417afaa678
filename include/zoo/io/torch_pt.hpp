// zoo/io/torch_pt.hpp — reads a `torch.save(model.state_dict(), path)` file
// directly: no PyTorch, no conversion step, and no pickle code ever run.
//
//   file  = ZIP archive, entries stored (not compressed):
//             <archive>/data.pkl   the pickle of an OrderedDict name → tensor
//             <archive>/data/<key> the raw little-endian bytes of each storage
//   tensor = torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …),
//            storage = persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
//
// A pickle is a program for a stack machine that may call any Python function
// it names. zoo's unpickler knows only the opcodes that plain containers and
// tensors use and only the globals of a state_dict (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage); any
// other global (os.system, builtins.eval, …) is refused with an error. The ZIP
// directory and every offset, length and count in the pickle are bounds-checked.
//
// A tensor may be any view PyTorch writes: a transposed weight, slices of one
// storage at different offsets, tied weights, zero-stride expands, stepped
// slices. The furthest element a view reads (offset + Σ (size−1)·stride, with
// overflow checks) must lie inside its storage before anything is read;
// contiguous views are read in place, others copied row-major, and the copies
// of one file are capped (pt_view_limit) so that an expand of one float to
// 2^40 elements is refused instead of allocated. Negative strides and offsets
// do not exist in PyTorch and are refused.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "error.hpp"
#include "file.hpp"
#include "state_dict.hpp"

namespace zoo {
namespace io {

// ------------------------------------------------------------------ ZIP (stored entries)
struct ZipEntry {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

inline std::map<std::string, ZipEntry> read_zip_directory(const std::vector<std::uint8_t>& b,
                                                          const std::string& name) {
  auto fail = [&](const std::string& w) { return IoError(name, "ZIP: " + w); };
  auto u16 = [&](std::size_t o) { return std::uint32_t(b[o]) | std::uint32_t(b[o + 1]) << 8; };
  auto u32 = [&](std::size_t o) { return u16(o) | u16(o + 2) << 16; };
  auto u64 = [&](std::size_t o) { return std::uint64_t(u32(o)) | std::uint64_t(u32(o + 4)) << 32; };
  const std::size_t n = b.size();
  if (n < 22) throw fail("file too short for a ZIP archive");
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535.
  std::size_t eocd = SIZE_MAX;
  for (std::size_t i = n - 22 + 1; i-- > (n > 22 + 65535 ? n - 22 - 65535 : 0);)
    if (u32(i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == SIZE_MAX) {
    if (b[0] == 0x80) throw fail("not a ZIP archive: a legacy (PyTorch < 1.6) pickle file; re-save it with a newer torch.save");
    throw fail("not a ZIP archive (no end-of-central-directory record)");
  }
  std::uint64_t count = u16(eocd + 10), cd_size = u32(eocd + 12), cd_off = u32(eocd + 16);
  if ((count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) && eocd >= 20 &&
      u32(eocd - 20) == 0x07064b50) {  // ZIP64 locator → ZIP64 end record
    const std::uint64_t z = u64(eocd - 20 + 8);
    if (n < 56 || z > n - 56 || u32(static_cast<std::size_t>(z)) != 0x06064b50) throw fail("bad ZIP64 end record");
    count = u64(static_cast<std::size_t>(z) + 32);
    cd_size = u64(static_cast<std::size_t>(z) + 40);
    cd_off = u64(static_cast<std::size_t>(z) + 48);
  }
  if (cd_off > n || cd_size > n - cd_off) throw fail("central directory lies outside the file");
  if (count > cd_size / 46) throw fail("central directory claims more entries than it can hold");
  std::map<std::string, ZipEntry> out;
  std::size_t p = static_cast<std::size_t>(cd_off);
  const std::size_t end = static_cast<std::size_t>(cd_off + cd_size);
  for (std::uint64_t k = 0; k < count; ++k) {
    if (end - p < 46 || u32(p) != 0x02014b50) throw fail("bad central directory entry " + std::to_string(k));
    const std::uint32_t method = u16(p + 10), nlen = u16(p + 28), xlen = u16(p + 30), clen = u16(p + 32);
    std::uint64_t csize = u32(p + 20), usize = u32(p + 24), loff = u32(p + 42);
    if (end - p - 46 < std::size_t{nlen} + xlen + clen) throw fail("central directory entry runs past its end");
    std::string ename(reinterpret_cast<const char*>(&b[p + 46]), nlen);
    // ZIP64 extra field: the saturated sizes/offset follow, in this order.
    for (std::size_t x = p + 46 + nlen, xe = x + xlen; x + 4 <= xe;) {
      const std::uint32_t id = u16(x), len = u16(x + 2);
      if (x + 4 + len > xe) break;
      if (id == 1) {
        std::size_t q = x + 4;
        auto take = [&](std::uint64_t& v) {
          if (v == 0xFFFFFFFF && q + 8 <= x + 4 + len) v = u64(q), q += 8;
        };
        take(usize), take(csize), take(loff);
      }
      x += 4 + len;
    }
    if (method != 0) throw fail("entry " + ename + " is compressed (method " + std::to_string(method) + "); zoo reads stored entries, as torch.save writes them");
    if (csize != usize) throw fail("entry " + ename + ": stored sizes disagree");
    if (loff > n || n - loff < 30 || u32(static_cast<std::size_t>(loff)) != 0x04034b50)
      throw fail("entry " + ename + ": bad local header offset");
    const std::size_t lh = static_cast<std::size_t>(loff);
    const std::uint64_t data = loff + 30 + u16(lh + 26) + u16(lh + 28);
    if (data > n || usize > n - data) throw fail("entry " + ename + " runs past the end of the file");
    out[ename] = {b.data() + data, static_cast<std::size_t>(usize)};
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

// ------------------------------------------------------------------ restricted unpickler
namespace pickle {

// Objects live in the unpickler's arena and refer to each other by raw
// pointer: a hostile pickle can build cycles (a list appended to itself through
// the memo), which reference counting would leak.
struct Obj;
using P = Obj*;
struct Obj {
  enum class Kind { none, boolean, integer, real, string, bytes, tuple, list, dict, global, storage, tensor, mark } kind;
  std::int64_t i = 0;
  double f = 0;
  std::string s;                        // string, bytes, global "module.name", storage dtype
  std::vector<P> items;                 // tuple, list
  std::vector<std::pair<P, P>> dict;    // dict, in insertion order
  std::string key;                      // storage: entry key
  P storage;                            // tensor
  std::vector<std::int64_t> size, stride;
};

// The storage classes a state_dict uses, mapped to safetensors dtype names.
inline const char* storage_dtype(const std::string& g) {
  static const std::pair<const char*, const char*> m[] = {
      {"torch.FloatStorage", "F32"}, {"torch.DoubleStorage", "F64"}, {"torch.LongStorage", "I64"},
      {"torch.IntStorage", "I32"},   {"torch.HalfStorage", "F16"},   {"torch.BFloat16Storage", "BF16"},
      {"torch.ShortStorage", "I16"}, {"torch.CharStorage", "I8"},    {"torch.ByteStorage", "U8"},
      {"torch.BoolStorage", "BOOL"}};
  for (auto& [k, v] : m)
    if (g == k) return v;
  return nullptr;
}
inline bool allowed_global(const std::string& g) {
  return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
         g == "torch._utils._rebuild_parameter" || storage_dtype(g) != nullptr;
}

class Unpickler {
 public:
  Unpickler(const std::uint8_t* p, std::size_t n, std::string name) : p_(p), n_(n), name_(std::move(name)) {}

  // The result lives as long as this Unpickler.
  P load() {
    for (;;) {
      if (i_ >= n_) fail("pickle ends without STOP");
      const std::size_t at = i_;
      const std::uint8_t op = p_[i_++];
      switch (op) {
        case 0x80: take(1); break;  // PROTO
        case 0x95: take(8); break;  // FRAME
        case '.': {                 // STOP
          P r = pop();
          return r;
        }
        case '(': marks_.push_back(stack_.size()); break;
        case 'N': push(make(Obj::Kind::none)); break;
        case 0x88: case 0x89: {
          auto b = make(Obj::Kind::boolean);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'K': push_int(take(1)[0]); break;
        case 'M': { auto q = take(2); push_int(q[0] | q[1] << 8); break; }
        case 'J': {
          auto q = take(4);
          std::int32_t v;
          std::memcpy(&v, q, 4);
          push_int(v);
          break;
        }
        case 0x8a: {  // LONG1: n-byte little-endian two's complement
          const std::size_t len = take(1)[0];
          if (len > 8) fail("integer wider than 64 bits");
          auto q = take(len);
          std::uint64_t v = 0;
          for (std::size_t k = 0; k < len; ++k) v |= std::uint64_t(q[k]) << (8 * k);
          if (len && len < 8 && (q[len - 1] & 0x80)) v |= ~std::uint64_t(0) << (8 * len);
          push_int(static_cast<std::int64_t>(v));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          auto q = take(8);
          std::uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = u << 8 | q[k];
          auto r = make(Obj::Kind::real);
          std::memcpy(&r->f, &u, 8);
          push(r);
          break;
        }
        case 'X': push_str(Obj::Kind::string, le(4)); break;
        case 0x8c: push_str(Obj::Kind::string, take(1)[0]); break;
        case 0x8d: push_str(Obj::Kind::string, le(8)); break;
        case 'B': push_str(Obj::Kind::bytes, le(4)); break;
        case 'C': push_str(Obj::Kind::bytes, take(1)[0]); break;
        case ')': push(make(Obj::Kind::tuple)); break;
        case 't': { auto t = make(Obj::Kind::tuple); t->items = pop_mark(); push(t); break; }
        case 0x85: case 0x86: case 0x87: {
          auto t = make(Obj::Kind::tuple);
          t->items.resize(op - 0x84);
          for (std::size_t k = t->items.size(); k-- > 0;) t->items[k] = pop();
          push(t);
          break;
        }
        case ']': push(make(Obj::Kind::list)); break;
        case 'l': { auto l = make(Obj::Kind::list); l->items = pop_mark(); push(l); break; }
        case 'a': { P v = pop(); top(Obj::Kind::list)->items.push_back(v); break; }
        case 'e': { auto vs = pop_mark(); auto l = top(Obj::Kind::list); l->items.insert(l->items.end(), vs.begin(), vs.end()); break; }
        case '}': push(make(Obj::Kind::dict)); break;
        case 'd': { auto d = make(Obj::Kind::dict); set_items(d, pop_mark()); push(d); break; }
        case 's': { P v = pop(), k = pop(); top(Obj::Kind::dict)->dict.emplace_back(k, v); break; }
        case 'u': { auto vs = pop_mark(); set_items(top(Obj::Kind::dict), vs); break; }
        case 'q': memo_[take(1)[0]] = peek(); break;
        case 'r': memo_[static_cast<std::uint32_t>(le(4))] = peek(); break;
        case 0x94: memo_[static_cast<std::uint32_t>(memo_.size())] = peek(); break;
        case 'h': push(get(take(1)[0])); break;
        case 'j': push(get(static_cast<std::uint32_t>(le(4)))); break;
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(peek()); break;
        case 'c': {  // GLOBAL "module\nname\n"
          std::string mod = line(), nm = line();
          push_global(mod + "." + nm);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          P nm = pop(), mod = pop();
          if (nm->kind != Obj::Kind::string || mod->kind != Obj::Kind::string) fail("STACK_GLOBAL needs two strings");
          push_global(mod->s + "." + nm->s);
          break;
        }
        case 'Q': push(persistent(pop())); break;  // BINPERSID
        case 'R': {                                // REDUCE
          P args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b': {  // BUILD: an OrderedDict's __dict__ (_metadata) or a tensor's state; not needed
          pop();
          const P& t = peek();
          if (t->kind != Obj::Kind::dict && t->kind != Obj::Kind::tensor) fail("BUILD on an unsupported object");
          break;
        }
        default: {
          char h[8];
          std::snprintf(h, sizeof h, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + h + " at byte " + std::to_string(at) +
               " (zoo reads only plain containers and tensors)");
        }
      }
      if (stack_.size() > (std::size_t{1} << 20)) fail("pickle stack too deep");
    }
  }

 private:
  [[noreturn]] void fail(const std::string& w) const { throw IoError(name_, "pickle: " + w); }
  P make(Obj::Kind k) {
    arena_.push_back(std::make_unique<Obj>());
    arena_.back()->kind = k;
    return arena_.back().get();
  }
  const std::uint8_t* take(std::size_t k) {
    if (k > n_ - i_) fail("truncated at byte " + std::to_string(i_));
    const std::uint8_t* q = p_ + i_;
    i_ += k;
    return q;
  }
  std::uint64_t le(std::size_t k) {
    auto q = take(k);
    std::uint64_t v = 0;
    for (std::size_t j = 0; j < k; ++j) v |= std::uint64_t(q[j]) << (8 * j);
    return v;
  }
  std::string line() {
    std::string s;
    for (;;) {
      const char c = static_cast<char>(take(1)[0]);
      if (c == '\n') return s;
      if (s.size() > 256) fail("GLOBAL name too long");
      s += c;
    }
  }
  void push(P v) { stack_.push_back(std::move(v)); }
  void push_int(std::int64_t v) {
    auto p = make(Obj::Kind::integer);
    p->i = v;
    push(p);
  }
  void push_str(Obj::Kind k, std::uint64_t len) {
    if (len > n_ - i_) fail("string of " + std::to_string(len) + " bytes runs past the end");
    auto q = take(static_cast<std::size_t>(len));
    auto p = make(k);
    p->s.assign(reinterpret_cast<const char*>(q), static_cast<std::size_t>(len));
    push(p);
  }
  void push_global(const std::string& g) {
    if (!allowed_global(g))
      fail("refusing global " + g + ": zoo's .pt reader rebuilds only tensors of a state_dict "
           "(a pickle is a program, and zoo never runs one)");
    auto p = make(Obj::Kind::global);
    p->s = g;
    push(p);
  }
  P pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) fail("stack underflow at byte " + std::to_string(i_));
    P v = stack_.back();
    stack_.pop_back();
    return v;
  }
  const P& peek() {
    if (stack_.empty()) fail("stack underflow at byte " + std::to_string(i_));
    return stack_.back();
  }
  P top(Obj::Kind k) {
    const P& t = peek();
    if (t->kind != k) fail("operation on the wrong kind of object at byte " + std::to_string(i_));
    return t;
  }
  std::vector<P> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack at byte " + std::to_string(i_));
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<P> v(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return v;
  }
  void set_items(const P& d, const std::vector<P>& kv) {
    if (kv.size() % 2) fail("odd number of items for a dict");
    for (std::size_t k = 0; k < kv.size(); k += 2) d->dict.emplace_back(kv[k], kv[k + 1]);
  }
  P get(std::uint32_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " was never stored");
    return it->second;
  }
  P persistent(const P& pid) {
    // ('storage', <storage class>, key, location, numel)
    if (pid->kind != Obj::Kind::tuple || pid->items.size() != 5 || pid->items[0]->kind != Obj::Kind::string ||
        pid->items[0]->s != "storage" || pid->items[1]->kind != Obj::Kind::global ||
        pid->items[2]->kind != Obj::Kind::string || pid->items[4]->kind != Obj::Kind::integer)
      fail("unsupported persistent id (expected a torch storage)");
    const char* dt = storage_dtype(pid->items[1]->s);
    if (!dt) fail("persistent id names " + pid->items[1]->s + ", not a storage class");
    if (pid->items[4]->i < 0) fail("storage " + pid->items[2]->s + " declares a negative element count");
    auto s = make(Obj::Kind::storage);
    s->s = dt;
    s->key = pid->items[2]->s;
    s->i = pid->items[4]->i;
    return s;
  }
  std::vector<std::int64_t> ints(const P& t, const char* what) {
    if (t->kind != Obj::Kind::tuple) fail(std::string(what) + " is not a tuple");
    std::vector<std::int64_t> v;
    for (const auto& x : t->items) {
      if (x->kind != Obj::Kind::integer || x->i < 0) fail(std::string(what) + " holds a non-integer or negative value");
      v.push_back(x->i);
    }
    return v;
  }
  P reduce(const P& fn, const P& args) {
    if (fn->kind != Obj::Kind::global || args->kind != Obj::Kind::tuple) fail("REDUCE on something that is not an allowed global");
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") {
      if (!a.empty()) fail("OrderedDict with arguments");
      return make(Obj::Kind::dict);
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2") {
      if (a.size() < 4 || a[0]->kind != Obj::Kind::storage || a[1]->kind != Obj::Kind::integer)
        fail("_rebuild_tensor_v2 with unexpected arguments");
      auto t = make(Obj::Kind::tensor);
      t->storage = a[0];
      t->i = a[1]->i;
      t->size = ints(a[2], "tensor size");
      t->stride = ints(a[3], "tensor stride");
      if (t->size.size() != t->stride.size()) fail("tensor size and stride differ in length");
      return t;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != Obj::Kind::tensor) fail("_rebuild_parameter without a tensor");
      return a[0];
    }
    fail("refusing to call " + fn->s);
  }

  const std::uint8_t* p_;
  std::size_t n_, i_ = 0;
  std::string name_;
  std::vector<P> stack_;
  std::vector<std::size_t> marks_;
  std::map<std::uint32_t, P> memo_;
  std::vector<std::unique_ptr<Obj>> arena_;
};

}  // namespace pickle

// A parsed .pt state_dict: its bytes and the tensors. A contiguous tensor
// points into `bytes` (no copy); any other view PyTorch writes — w.t(),
// x[:, ::2], x.expand(…) — points into its own row-major copy in `views`.
struct PtFile {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::vector<std::vector<std::uint8_t>> views;
  std::vector<RawTensor> tensors;
  PtFile() = default;
  PtFile(PtFile&&) = default;
  PtFile& operator=(PtFile&&) = default;
  PtFile(const PtFile&) = delete;
};

// How many bytes the copies of non-contiguous views may take in all, for a file
// of `file_bytes`. Transposes and strided slices copy at most their storage, so
// at most the file's size; but zero strides (x.expand(…)) let a few bytes claim
// any number of elements, and without a cap a hostile file could ask for
// terabytes. 16× the file + 64 MiB leaves room for real broadcast views, and
// nothing is allocated past io::default_max_bytes, the cap on reading a file.
inline std::uint64_t pt_view_limit(std::uint64_t file_bytes) {
  constexpr std::uint64_t slack = std::uint64_t{64} << 20;
  const std::uint64_t l = file_bytes > (UINT64_MAX - slack) / 16 ? UINT64_MAX : 16 * file_bytes + slack;
  return std::min<std::uint64_t>(l, default_max_bytes);
}

// `max_view_bytes` = 0: pt_view_limit(bytes.size()).
inline PtFile parse_pt(std::vector<std::uint8_t> bytes, const std::string& name,
                       std::uint64_t max_view_bytes = 0) {
  PtFile f;
  f.name = name;
  if (max_view_bytes == 0) max_view_bytes = pt_view_limit(bytes.size());
  const auto zip = read_zip_directory(bytes, name);
  std::string prefix;
  const ZipEntry* pkl = nullptr;
  for (const auto& [k, e] : zip)
    if (k.size() >= 8 && k.compare(k.size() - 8, 8, "data.pkl") == 0 &&
        (k.size() == 8 || k[k.size() - 9] == '/') && k.find('/') == k.rfind('/')) {
      prefix = k.substr(0, k.size() - 8);
      pkl = &e;
    }
  if (!pkl) throw IoError(name, "no data.pkl in the archive: not a torch.save file");
  pickle::Unpickler up(pkl->data, pkl->size, name);
  const pickle::P root = up.load();
  if (root->kind != pickle::Obj::Kind::dict)
    throw IoError(name, "the pickle holds no dict: expected torch.save(model.state_dict())");
  auto ints_str = [](const std::vector<std::int64_t>& v) {
    std::string o = "(";
    for (std::size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + std::to_string(v[i]);
    return o + (v.size() == 1 ? ",)" : ")");
  };
  // Tied weights are one tensor object under two keys: copy its view once.
  std::map<const pickle::Obj*, std::pair<const std::uint8_t*, std::size_t>> copied;
  std::uint64_t view_bytes = 0;
  for (const auto& [k, v] : root->dict) {
    if (k->kind != pickle::Obj::Kind::string) throw IoError(name, "state_dict key is not a string");
    if (v->kind != pickle::Obj::Kind::tensor)
      throw IoError(name, "state_dict entry \"" + k->s + "\" is not a tensor (save model.state_dict(), not a dict of other things)");
    const auto& st = *v->storage;
    const std::string ek = prefix + "data/" + st.key;
    const auto it = zip.find(ek);
    if (it == zip.end()) throw IoError(name, "tensor \"" + k->s + "\": storage entry " + ek + " is missing");
    RawTensor t;
    t.name = k->s;
    t.dtype = st.s;
    const std::uint64_t es = dtype_size(t.dtype);  // non-zero: storage_dtype names only known dtypes
    const std::uint64_t storage_bytes = it->second.size, storage_numel = storage_bytes / es;
    const std::uint8_t* const src = it->second.data;
    // Sizes, strides and the offset were refused when negative by the unpickler.
    const auto& size = v->size;
    const auto& stride = v->stride;
    const auto off = static_cast<std::uint64_t>(v->i);
    const std::string what = "tensor \"" + t.name + "\" of shape " + ints_str(size) + ", stride " +
                             ints_str(stride) + ", at offset " + std::to_string(off);
    std::uint64_t numel = 1;
    bool empty = false, huge = false;
    for (const auto s : size) {
      const auto sz = static_cast<std::uint64_t>(s);
      t.shape.push_back(static_cast<std::size_t>(sz));
      if (sz == 0) empty = true;
      else if (numel > UINT64_MAX / sz) huge = true;
      else numel *= sz;
    }
    if (v->i < 0) throw IoError(name, what + ": negative storage offset");
    if (empty) {  // no elements, so nothing is read and any offset will do
      t.data = src;
      t.nbytes = 0;
      f.tensors.push_back(std::move(t));
      continue;
    }
    if (huge || numel > UINT64_MAX / es)
      throw IoError(name, what + " claims more than 2^64 bytes");
    // The furthest element the view reads: offset + Σ (size_d − 1)·stride_d.
    // Every element it reads lies between offset and this one, so checking it
    // bounds them all before anything is read.
    std::uint64_t last = off;
    bool past = false;
    for (std::size_t d = 0; d < size.size() && !past; ++d) {
      const auto n1 = static_cast<std::uint64_t>(size[d]) - 1, sd = static_cast<std::uint64_t>(stride[d]);
      if (n1 != 0 && sd > UINT64_MAX / n1) past = true;
      else if (n1 * sd > UINT64_MAX - last) past = true;
      else last += n1 * sd;
    }
    if (past || last >= storage_numel)
      throw IoError(name, what + " runs past its storage (" + std::to_string(storage_bytes) + " bytes): it reads element " +
                              (past ? std::string("past 2^64") : std::to_string(last)) + " of storage " + st.key +
                              ", which holds " + std::to_string(storage_numel) + " " + t.dtype);
    if (storage_bytes % es != 0 || static_cast<std::uint64_t>(st.i) != storage_numel)
      throw IoError(name, "tensor \"" + t.name + "\": storage " + st.key + " declares " + std::to_string(st.i) +
                              " elements of " + t.dtype + " (" + std::to_string(es) + " bytes each), its entry " + ek +
                              " holds " + std::to_string(storage_bytes) + " bytes");
    const std::uint64_t nbytes = numel * es;
    // Row-major contiguous (size-1 dimensions may have any stride): read in place.
    bool contiguous = true;
    for (std::uint64_t d = size.size(), expect = 1; d-- > 0;) {
      if (size[d] != 1 && static_cast<std::uint64_t>(stride[d]) != expect) contiguous = false;
      expect *= static_cast<std::uint64_t>(size[d]);
    }
    if (contiguous) {
      t.data = src + off * es;
      t.nbytes = static_cast<std::size_t>(nbytes);
      f.tensors.push_back(std::move(t));
      continue;
    }
    if (const auto c = copied.find(v); c != copied.end()) {
      t.data = c->second.first;
      t.nbytes = c->second.second;
      f.tensors.push_back(std::move(t));
      continue;
    }
    if (nbytes > max_view_bytes - std::min(view_bytes, max_view_bytes))
      throw IoError(name, what + " is a view whose row-major copy needs " + std::to_string(nbytes) +
                              " bytes; with the views before it that passes this file's limit of " +
                              std::to_string(max_view_bytes) + " bytes for copied views (a cap against zero strides claiming huge tensors)");
    view_bytes += nbytes;
    std::vector<std::uint8_t> buf(static_cast<std::size_t>(nbytes));
    // Walk the view in row-major order: the last dimension in a run, the others
    // as an odometer. `base` stays within [off, last], so it cannot overflow.
    const std::size_t r = size.size();  // ≥ 1: a rank-0 tensor is contiguous
    const auto inner = static_cast<std::uint64_t>(size[r - 1]), istride = static_cast<std::uint64_t>(stride[r - 1]);
    std::vector<std::uint64_t> idx(r, 0);
    std::uint64_t base = off;
    std::uint8_t* out = buf.data();
    for (bool more = true; more;) {
      if (istride == 1) {
        std::memcpy(out, src + base * es, static_cast<std::size_t>(inner * es));
        out += inner * es;
      } else {
        for (std::uint64_t j = 0; j < inner; ++j, out += es)
          std::memcpy(out, src + (base + j * istride) * es, static_cast<std::size_t>(es));
      }
      more = false;
      for (std::size_t d = r - 1; d-- > 0;) {
        const auto sd = static_cast<std::uint64_t>(stride[d]);
        if (++idx[d] < static_cast<std::uint64_t>(size[d])) {
          base += sd;
          more = true;
          break;
        }
        base -= (idx[d] - 1) * sd;
        idx[d] = 0;
      }
    }
    t.data = buf.data();
    t.nbytes = buf.size();
    copied[v] = {t.data, t.nbytes};
    f.views.push_back(std::move(buf));  // a moved vector keeps its buffer
    f.tensors.push_back(std::move(t));
  }
  f.bytes = std::move(bytes);  // a moved vector keeps its buffer, so the views stay valid
  return f;
}

inline PtFile read_pt(const std::string& path) { return parse_pt(read_raw(path), path); }

}  // namespace io

// Loads a torch.save(model.state_dict()) file into a zoo model, as
// model.load_state_dict(torch.load(path), strict).
template <class M>
io::LoadResult load_pt(const std::string& path, M& model, io::LoadOptions opt = {}) {
  const auto f = io::read_pt(path);
  return io::load_state_dict(model.state_dict(), f.tensors, opt, path);
}

}  // namespace zoo

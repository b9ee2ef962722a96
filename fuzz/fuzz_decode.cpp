// fuzz_decode: arbitrary bytes into converge::decode<T> for every type.
// Only converge::decode_error may escape; whatever is accepted must be a
// valid state: it re-encodes to the same bytes (format 1 is canonical; the
// header's minor version aside; a format 2 frame must decode equal from its
// columns) and decodes equal, it obeys the lattice laws
// (with itself, bottom, and a second decoded state that holds none of its
// dots: see disjoint_dots), and local mutators
// applied to it keep the delta law. Run with -rss_limit_mb=512
// -malloc_limit_mb=256 so a large allocation is a finding.
//
// Input: byte 0 picks the type (fuzz/common/catalogs.hpp `decode_catalog`, index
// byte % size) and the mode (bit (byte / size) & 1): one state from the
// rest, or two states, the first of length byte 1.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "common/catalogs.hpp"
#include "common/harness.hpp"
#include "common/specs.hpp"

namespace converge_fuzz {
namespace {

template <class T>
std::optional<T> try_decode(std::span<const std::byte> bytes) {
  try {
    return converge::decode<T>(bytes);
  } catch (const converge::decode_error&) {
    return std::nullopt;
  } catch (const std::exception& ex) {
    fail(spec<T>::name() + ": decode threw something other than decode_error: " + ex.what());
  }
}

template <class T>
void check_(bool holds, const std::string& what, const T& x, const T* y = nullptr) {
  if (holds) return;
  std::string out = spec<T>::name() + ": " + what + "\n  x = " + show(x);
  if (y != nullptr) out += "\n  y = " + show(*y);
  fail(out);
}

template <class T>
void accepted(const T& x, std::span<const std::byte> input) {
  const T bottom{};
  check_(x == x, "a decoded state is not equal to itself (x == x is false)", x);
  const std::vector<std::byte> again = converge::encode(x);
  const std::optional<T> back = try_decode<T>(again);
  check_(back.has_value(), "decode(encode(x)) was refused", x);
  check_(*back == x, "decode(encode(x)) != x", x, &*back);
  check_(converge::encode(*back) == again, "encode(decode(encode(x))) != encode(x)", x);
  if (!converge::wire::columnar_header(input)) {
    check_(again.size() == input.size() && std::equal(again.begin() + 1, again.end(), input.begin() + 1),
           "accepted bytes are not canonical: encode(decode(b)) differs from b beyond the header byte", x);
  } else {
    // A 2.0 frame lets each store be in rows or columns, and runs split as the
    // writer likes: not canonical, but the columns of x must bring x back.
    const std::vector<std::byte> columns = converge::encode(x, {.columns_from = 1});
    const std::optional<T> from_columns = try_decode<T>(columns);
    check_(from_columns.has_value() && *from_columns == x, "decode(encode(x) in columns) != x", x);
  }
  check_(converge::join(x, x) == x, "idempotence on a decoded state", x);
  check_(converge::join(x, bottom) == x && converge::join(bottom, x) == x, "bottom is the identity", x);
  check_(converge::is_bottom(x) == (x == bottom), "is_bottom(x) == (x == T{})", x);
  check_(converge::leq(bottom, x) && converge::leq(x, x), "leq(T{}, x) and leq(x, x)", x);
  check_(converge::is_bottom(converge::novel(x, x)), "novel(x, x) is bottom", x);
  (void)converge::to_json(x, {.causal_metadata = true});
}

/// True when no dot is held by both causal states (field by field in a
/// struct). Two states that hold one dot with different payloads cannot come
/// from honest replicas (a dot is issued once, for one value), and their join
/// is not commutative by construction, so pairs sharing a held dot are left
/// out of the pair laws (each is still checked alone).
template <class T>
bool disjoint_dots(const T& x, const T& y) {
  if constexpr (requires {
                  typename T::store_type;
                  x.store().for_each_dot([](const converge::dot&) {});
                }) {
    std::vector<converge::dot> mine;
    x.store().for_each_dot([&](const converge::dot& d) { mine.push_back(d); });
    std::sort(mine.begin(), mine.end());
    bool disjoint = true;
    y.store().for_each_dot([&](const converge::dot& d) {
      disjoint = disjoint && !std::binary_search(mine.begin(), mine.end(), d);
    });
    return disjoint;
  } else if constexpr (converge::detail::hana_struct<T>) {
    bool all = true;
    converge::detail::for_each_field(x, [&](auto get) { all = all && disjoint_dots(get(x), get(y)); });
    return all;
  } else {
    return true;
  }
}

template <class T>
void pair(const T& x, const T& y) {
  if (!disjoint_dots(x, y)) return;
  const T xy = converge::join(x, y);
  check_(xy == converge::join(y, x), "commutativity", x, &y);
  check_(converge::join(xy, x) == xy && converge::join(xy, y) == xy, "join is an upper bound", x, &y);
  check_(converge::leq(x, y) == (xy == y), "order: leq(x, y) == (join(x, y) == y)", x, &y);
  check_(converge::join(converge::join(x, y), xy) == converge::join(x, converge::join(y, xy)),
         "associativity", x, &y);
  const T r = converge::novel(x, y);
  check_(converge::join(y, r) == xy, "novel: join(s, novel(d, s)) == join(s, d)", x, &y);
  check_(converge::leq(r, x), "novel: leq(novel(d, s), d)", x, &y);
  const std::optional<T> back = try_decode<T>(converge::encode(xy));
  check_(back && *back == xy, "decode(encode(join(x, y))) != join(x, y)", x, &y);
}

/// Local mutators on a hostile (but accepted) state keep the delta law.
template <class T>
void mutate(T x, std::span<const std::uint8_t> bytes) {
  byte_entropy e(bytes);
  for (int k = 0; k < 4 && !e.exhausted(); ++k) {
    const T old = x;
    const replica_id self{e.below(4)};
    T d;
    try {
      d = plain_op(x, self, e);
    } catch (const std::overflow_error&) {
      // A forged context exhausted `self`'s dot counter: the mutator is
      // refused, and a refused mutator changes nothing.
      check_(x == old, "a mutator refused for an exhausted dot counter changed the state", old, &x);
      return;
    }
    check_(converge::join(old, d) == x, "delta law on a decoded state: join(old, delta) == new", old, &d);
    check_(converge::leq(old, x), "a mutator only grows the state", old, &x);
  }
}

template <class T>
void run(std::span<const std::uint8_t> rest, bool two) {
  const auto* p = reinterpret_cast<const std::byte*>(rest.data());
  const std::span<const std::byte> bytes(p, rest.size());
  try {
    if (!two) {
      if (const std::optional<T> x = try_decode<T>(bytes)) {
        accepted(*x, bytes);
        mutate(*x, rest);
      }
      return;
    }
    if (bytes.empty()) return;
    const std::size_t len = std::min<std::size_t>(std::to_integer<std::size_t>(bytes[0]), bytes.size() - 1);
    const auto a = bytes.subspan(1, len);
    const auto b = bytes.subspan(1 + len);
    const std::optional<T> x = try_decode<T>(a);
    const std::optional<T> y = try_decode<T>(b);
    if (x) accepted(*x, a);
    if (y) accepted(*y, b);
    if (x && y) pair(*x, *y);
  } catch (const std::exception& ex) {
    fail(spec<T>::name() + ": threw on an accepted state: " + ex.what());
  }
}

}  // namespace
}  // namespace converge_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace converge_fuzz;
  if (size == 0) return 0;
  const std::size_t n = decode_catalog::size;
  const bool two = ((data[0] / n) & 1U) != 0;
  with_type(decode_catalog{}, data[0] % n, [&]<class T>(std::type_identity<T>) {
    run<T>(std::span<const std::uint8_t>(data + 1, size - 1), two);
  });
  return 0;
}

#pragma once
/// @file
/// `converge::key_hash<K>`: how `or_map` hashes its keys.
///
/// # The customisation point
/// `or_map<K, V>` finds a key through a hash table when `key_hash<K>` can
/// hash it, and keeps the keys in a `std::map` index otherwise. The primary
/// template forwards to `std::hash<K>` where that is enabled, so standard
/// keys (integers, `std::string`, …) and keys with a `std::hash`
/// specialisation need nothing. For a key type of your own, either
/// specialise `std::hash` or, to leave `std::hash` alone, `converge::key_hash`:
/// @code
///   struct user_id { std::uint64_t high, low; bool operator==(const user_id&) const = default;
///                    auto operator<=>(const user_id&) const = default; };
///   template <> struct converge::key_hash<user_id> {
///     std::size_t operator()(const user_id& u) const noexcept { return u.high * 31 + u.low; }
///   };
/// @endcode
/// Requirements: `key_hash<K>{}(k)` returns a `std::size_t`, equal keys
/// (`==`) hash equal, and the hash does not depend on the process (it may be
/// weak: the map folds a per-process random key into it and mixes the bits,
/// so even the identity is a good hash).
///
/// # Which index a map uses
/// The hash table is used when the map orders keys with `std::less` (the
/// default) and `K` is `converge::hashable_key`. A map given another
/// `Compare` uses the `std::map<K, position, Compare>` index whatever
/// `key_hash` says: key equality is then Compare's equivalence, which a hash
/// need not agree with (a case-insensitive order, say). Both iterate in key
/// order.

#include <concepts>
#include <cstddef>
#include <functional>

namespace converge {

namespace detail {

/// `std::hash<K>` is enabled and hashes a `const K&` to a `std::size_t`.
template <class K>
concept std_hashable = std::default_initializable<std::hash<K>> && requires(const K& k) {
  { std::hash<K>{}(k) } -> std::convertible_to<std::size_t>;
};

}  // namespace detail

/// The hash of an or_map key; see the file comment. Specialise it for a key
/// type with no `std::hash`, or to hash it differently in maps only.
template <class K>
struct key_hash {
  /// `std::hash<K>{}(k)`; absent (so K is not hashable_key) without it.
  std::size_t operator()(const K& k) const
      noexcept(noexcept(std::hash<K>{}(k))) requires detail::std_hashable<K> {
    return std::hash<K>{}(k);
  }
};

/// A key `or_map` can find by hash: `key_hash<K>` hashes it and `==` compares it.
template <class K>
concept hashable_key = std::equality_comparable<K> && std::default_initializable<key_hash<K>> &&
    requires(const K& k) {
  { key_hash<K>{}(k) } -> std::convertible_to<std::size_t>;
};

}  // namespace converge

#pragma once
/// @file
/// Origin-signed entries: what the replicator needs so that no peer, not even
/// an allow-listed insider, can raise another replica's counter entries or
/// rights (`replicator_options::signer`).
///
/// # What is signed
/// Some entries belong to one replica and only grow: a `gcounter` entry (and
/// so both halves of a `pncounter`), a `bounded_counter`'s increment and
/// decrement entries, and its transfer entries (owned by the replica the
/// rights leave). These are the *owned entries* of a state, wherever they sit
/// in a composed struct or a `g_map`. With signing on:
/// - a replicator signs the latest value of each of its own entries that
///   changed, once per `tick` (not once per mutation: peers only ever need
///   the latest), and keeps one signature per owned entry it holds;
/// - every message carries, beside its payload, the signature it holds for
///   each owned entry in that payload (a signature over a value at least the
///   payload's: values only grow, so a signature of the owner's higher value
///   vouches for every lower one);
/// - a receiver keeps an owned entry only when its signature verifies
///   against the owner's public key (`entry_signer::verify`) and covers the
///   entry's value, and drops it otherwise (counted in
///   `replicator_metrics::entries_rejected`); the rest of the message is
///   applied as usual. A signature it already verified is not checked again.
/// Anyone may relay an entry; no one can forge one. An entry whose
/// signature went missing (a replica restored from its journal does not
/// keep other replicas' signatures) is dropped by the receiver and reaches
/// it from another replica, or from its owner.
///
/// The signed bytes are `"converge-entry-1"`, the entry's key (where it is in
/// the state, its kind, its owner, and for a transfer its recipient), and the
/// value as a LEB128 varint: a signature is valid for one entry only.
///
/// # What is not signed
/// The dot-based types (sets, maps, registers, flags) stay trusted within the
/// cluster: an insider can still insert an element tagged with another
/// replica's dot. See the README's security section for the threat model.

#include "converge/bounded_counter.hpp"
#include "converge/g_map.hpp"
#include "converge/gcounter.hpp"
#include "converge/lattice.hpp"
#include "converge/pncounter.hpp"
#include "converge/replica_id.hpp"
#include "converge/wire/encode.hpp"
#include "converge/wire/varint.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace converge {

/// An Ed25519 signature (or any 64-byte signature scheme's).
using entry_signature = std::array<std::byte, 64>;

/// Signs this replica's entries and verifies others'. The library's
/// implementation is `converge::signing::ed25519_signer` (libsodium,
/// <converge/signing/ed25519.hpp>); tests may plug in their own.
class entry_signer {
 public:
  entry_signer() = default;
  entry_signer(const entry_signer&) = default;
  entry_signer& operator=(const entry_signer&) = default;
  entry_signer(entry_signer&&) = default;
  entry_signer& operator=(entry_signer&&) = default;
  virtual ~entry_signer() = default;

  /// Signs `message` with this replica's secret key.
  [[nodiscard]] virtual entry_signature sign(std::span<const std::byte> message) const = 0;
  /// True when `signature` over `message` verifies against the public key of
  /// the replica `owner`; false when it does not, or `owner` has no key.
  [[nodiscard]] virtual bool verify(replica_id owner, std::span<const std::byte> message,
                                    const entry_signature& signature) const = 0;
};

namespace replication {

namespace detail {

inline constexpr std::byte entry_counter{1};   // a gcounter entry
inline constexpr std::byte entry_transfer{2};  // a bounded_counter transfer entry

inline void append_varint(std::vector<std::byte>& out, std::uint64_t v) { wire::detail::put_varint(out, v); }

// Orders byte strings, and finds a vector key by a span.
struct bytes_less {
  using is_transparent = void;
  bool operator()(std::span<const std::byte> a, std::span<const std::byte> b) const noexcept {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  }
};

template <class T>
struct is_g_map : std::false_type {};
template <class K, class V>
struct is_g_map<g_map<K, V>> : std::true_type {};

}  // namespace detail

/// True when `T` can hold owned entries (known at compile time, so walking a
/// state without counters costs nothing).
template <class T>
constexpr bool has_owned_entries() {
  if constexpr (std::is_same_v<T, gcounter> || std::is_same_v<T, pncounter> ||
                std::is_same_v<T, bounded_counter>) {
    return true;
  } else if constexpr (detail::is_g_map<T>::value) {
    return has_owned_entries<typename T::mapped_type>();
  } else if constexpr (converge::detail::hana_struct<T>) {
    return []<class... M>(std::type_identity<boost::hana::tuple<M...>>) {
      return (has_owned_entries<std::remove_cvref_t<M>>() || ...);
    }(std::type_identity<converge::detail::member_types<T>>{});
  } else {
    return false;
  }
}

/// One owned entry met while walking a state.
struct owned_entry {
  std::span<const std::byte> key;  ///< unique within the state's type: where, what kind, whose
  replica_id owner;
  std::uint64_t value = 0;
};

namespace detail {

// Walks `x`, calling `f(const owned_entry&)` for every owned entry; `path` is
// the key prefix of `x` (restored on return).
template <class T, class F>
void walk_owned(const T& x, std::vector<std::byte>& path, F& f) {
  if constexpr (!has_owned_entries<T>()) {
    return;
  } else if constexpr (std::is_same_v<T, gcounter>) {
    const std::size_t at = path.size();
    for (const auto& [r, c] : x.entries()) {
      path.push_back(entry_counter);
      append_varint(path, r.value());
      f(owned_entry{path, r, c});
      path.resize(at);
    }
  } else if constexpr (std::is_same_v<T, pncounter>) {
    path.push_back(std::byte{0});
    walk_owned(x.increments(), path, f);
    path.back() = std::byte{1};
    walk_owned(x.decrements(), path, f);
    path.pop_back();
  } else if constexpr (std::is_same_v<T, bounded_counter>) {
    path.push_back(std::byte{0});
    walk_owned(x.increments(), path, f);
    path.back() = std::byte{1};
    walk_owned(x.decrements(), path, f);
    path.pop_back();
    const std::size_t at = path.size();
    for (const auto& t : x.transfers()) {
      path.push_back(entry_transfer);
      append_varint(path, t.from.value());
      append_varint(path, t.to.value());
      f(owned_entry{path, t.from, t.amount});
      path.resize(at);
    }
  } else if constexpr (is_g_map<T>::value) {
    const std::size_t at = path.size();
    for (const auto& [k, v] : x.entries()) {
      const std::vector<std::byte> key = converge::encode(k);
      append_varint(path, key.size());
      path.insert(path.end(), key.begin(), key.end());
      walk_owned(v, path, f);
      path.resize(at);
    }
  } else {  // a Hana struct
    const std::size_t at = path.size();
    std::uint64_t field = 0;
    converge::detail::for_each_field(x, [&](auto get) {
      append_varint(path, field++);
      walk_owned(get(x), path, f);
      path.resize(at);
    });
  }
}

// `x` without the owned entries for which `keep(const owned_entry&)` is
// false; returns how many were dropped (0: `x` untouched).
template <class T, class Keep>
std::size_t retain_owned(T& x, std::vector<std::byte>& path, Keep& keep) {
  if constexpr (!has_owned_entries<T>()) {
    return 0;
  } else if constexpr (std::is_same_v<T, gcounter>) {
    std::vector<gcounter::entry> kept;
    std::size_t dropped = 0;
    const std::size_t at = path.size();
    for (const auto& [r, c] : x.entries()) {
      path.push_back(entry_counter);
      append_varint(path, r.value());
      if (keep(owned_entry{path, r, c})) {
        kept.emplace_back(r, c);
      } else {
        ++dropped;
      }
      path.resize(at);
    }
    if (dropped != 0) x = gcounter::from_entries(std::move(kept));
    return dropped;
  } else if constexpr (std::is_same_v<T, pncounter> || std::is_same_v<T, bounded_counter>) {
    gcounter inc = x.increments();
    gcounter dec = x.decrements();
    path.push_back(std::byte{0});
    std::size_t dropped = retain_owned(inc, path, keep);
    path.back() = std::byte{1};
    dropped += retain_owned(dec, path, keep);
    path.pop_back();
    if constexpr (std::is_same_v<T, pncounter>) {
      if (dropped != 0) x = pncounter::from_parts(std::move(inc), std::move(dec));
    } else {
      std::vector<bounded_counter::transfer_entry> transfers;
      const std::size_t at = path.size();
      for (const auto& t : x.transfers()) {
        path.push_back(entry_transfer);
        append_varint(path, t.from.value());
        append_varint(path, t.to.value());
        if (keep(owned_entry{path, t.from, t.amount})) {
          transfers.push_back(t);
        } else {
          ++dropped;
        }
        path.resize(at);
      }
      if (dropped != 0) x = bounded_counter::from_parts(std::move(inc), std::move(dec), std::move(transfers));
    }
    return dropped;
  } else if constexpr (is_g_map<T>::value) {
    std::map<typename T::key_type, typename T::mapped_type> kept;
    std::size_t dropped = 0;
    const std::size_t at = path.size();
    for (const auto& [k, v] : x.entries()) {
      const std::vector<std::byte> key = converge::encode(k);
      append_varint(path, key.size());
      path.insert(path.end(), key.begin(), key.end());
      typename T::mapped_type value = v;
      dropped += retain_owned(value, path, keep);
      if (!converge::is_bottom(value)) kept.emplace_hint(kept.end(), k, std::move(value));
      path.resize(at);
    }
    if (dropped != 0) x = T::from_entries(std::move(kept));
    return dropped;
  } else {  // a Hana struct
    std::size_t dropped = 0;
    const std::size_t at = path.size();
    std::uint64_t field = 0;
    converge::detail::for_each_field(x, [&](auto get) {
      append_varint(path, field++);
      dropped += retain_owned(get(x), path, keep);
      path.resize(at);
    });
    return dropped;
  }
}

}  // namespace detail

/// Calls `f(const owned_entry&)` for every owned entry of `x` (see the file
/// comment); the entry's `key` is valid during the call only.
template <class T, class F>
void for_each_owned_entry(const T& x, F&& f) {
  if constexpr (has_owned_entries<T>()) {
    std::vector<std::byte> path;
    detail::walk_owned(x, path, f);
  }
}

/// Drops from `x` every owned entry for which `keep(const owned_entry&)` is
/// false. Returns how many were dropped.
template <class T, class Keep>
std::size_t retain_owned_entries(T& x, Keep&& keep) {
  if constexpr (has_owned_entries<T>()) {
    std::vector<std::byte> path;
    return detail::retain_owned(x, path, keep);
  } else {
    return 0;
  }
}

/// The bytes a signature covers for the entry `key` at `value`.
[[nodiscard]] inline std::vector<std::byte> signed_bytes(std::span<const std::byte> key,
                                                         std::uint64_t value) {
  static constexpr std::string_view domain = "converge-entry-1";
  std::vector<std::byte> out;
  out.reserve(domain.size() + key.size() + wire::detail::max_varint_bytes);
  for (const char c : domain) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), key.begin(), key.end());
  wire::detail::put_varint(out, value);
  return out;
}

/// A signature of an entry's owner over one value of it.
struct signed_value {
  std::uint64_t value = 0;
  entry_signature signature{};
};

/// The signatures a message carries: written before its payload as
/// `varint(count) (varint(key size) key varint(value) signature[64])*`.
class signature_block {
 public:
  void add(std::span<const std::byte> key, const signed_value& s) {
    wire::detail::put_varint(bytes_, key.size());
    bytes_.insert(bytes_.end(), key.begin(), key.end());
    wire::detail::put_varint(bytes_, s.value);
    bytes_.insert(bytes_.end(), s.signature.begin(), s.signature.end());
    ++count_;
  }
  /// The block's bytes: count, then the entries.
  [[nodiscard]] std::vector<std::byte> finish() const {
    std::vector<std::byte> out;
    out.reserve(wire::detail::max_varint_bytes + bytes_.size());
    wire::detail::put_varint(out, count_);
    out.insert(out.end(), bytes_.begin(), bytes_.end());
    return out;
  }

  /// Parses a block at the front of `bytes`: the signatures by key, and the
  /// bytes after the block. nullopt when malformed (a truncated entry, a key
  /// given twice, a count larger than the bytes could hold).
  struct parsed {
    std::map<std::vector<std::byte>, signed_value, detail::bytes_less> by_key;
    std::span<const std::byte> rest;
  };
  [[nodiscard]] static std::optional<parsed> read(std::span<const std::byte> bytes) {
    std::size_t pos = 0;
    auto error = wire::detail::varint_error::none;
    const std::uint64_t count = wire::detail::read_varint(bytes, pos, error);
    // Each entry takes at least 1 + 1 + 1 + 64 bytes: refuse a count the
    // message cannot hold before looping on it.
    if (error != wire::detail::varint_error::none || count > (bytes.size() - pos) / 67) return std::nullopt;
    parsed out;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t key_size = wire::detail::read_varint(bytes, pos, error);
      if (error != wire::detail::varint_error::none || key_size == 0 || key_size > bytes.size() - pos)
        return std::nullopt;
      std::vector<std::byte> key(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                                 bytes.begin() + static_cast<std::ptrdiff_t>(pos + key_size));
      pos += key_size;
      signed_value s;
      s.value = wire::detail::read_varint(bytes, pos, error);
      if (error != wire::detail::varint_error::none || bytes.size() - pos < s.signature.size())
        return std::nullopt;
      for (std::size_t k = 0; k < s.signature.size(); ++k) s.signature[k] = bytes[pos + k];
      pos += s.signature.size();
      if (!out.by_key.emplace(std::move(key), s).second) return std::nullopt;
    }
    out.rest = bytes.subspan(pos);
    return out;
  }

 private:
  std::vector<std::byte> bytes_;
  std::uint64_t count_ = 0;
};

/// The signatures a replicator holds: the highest verified value of every
/// owned entry it holds, with its owner's signature; and which of its own
/// entries changed since it last signed.
class signature_table {
 public:
  /// The signature held for `key`, or nullptr.
  [[nodiscard]] const signed_value* find(std::span<const std::byte> key) const {
    const auto it = table_.find(key);
    return it == table_.end() ? nullptr : &it->second;
  }
  /// Keeps `s` for `owner`'s entry `key` when it covers a higher value than the one held.
  void offer(std::span<const std::byte> key, replica_id owner, const signed_value& s) {
    const auto it = table_.find(key);
    if (it == table_.end()) {
      table_.emplace(std::vector<std::byte>(key.begin(), key.end()), held{s, owner});
    } else if (s.value > it->second.value) {
      it->second = held{s, owner};
    }
  }
  /// Forgets the signatures of `retired` replicas' entries (sorted): their
  /// entries are gone from every state (see `replicator::retire`).
  void forget(std::span<const replica_id> retired) {
    std::erase_if(table_, [&](const auto& kv) {
      return std::binary_search(retired.begin(), retired.end(), kv.second.owner);
    });
  }
  /// Notes that this replica's entry `key` now has `value` (signed at the next `sign_pending`).
  void changed(std::span<const std::byte> key, std::uint64_t value) {
    const auto it = pending_.find(key);
    if (it == pending_.end()) {
      pending_.emplace(std::vector<std::byte>(key.begin(), key.end()), value);
    } else {
      it->second = std::max(it->second, value);
    }
  }
  /// Signs every changed entry of `self` once; returns how many were signed.
  std::size_t sign_pending(const entry_signer& signer, replica_id self) {
    const std::size_t n = pending_.size();
    for (const auto& [key, value] : pending_) {
      const signed_value* had = find(key);
      if (had != nullptr && had->value >= value) continue;
      offer(key, self, signed_value{value, signer.sign(signed_bytes(key, value))});
    }
    pending_.clear();
    return n;
  }
  [[nodiscard]] std::size_t size() const noexcept { return table_.size(); }

 private:
  // A signature, and whose entry it signs.
  struct held : signed_value {
    held(const signed_value& s, replica_id o) : signed_value(s), owner(o) {}
    replica_id owner;
  };
  std::map<std::vector<std::byte>, held, detail::bytes_less> table_;
  std::map<std::vector<std::byte>, std::uint64_t, detail::bytes_less> pending_;
};

}  // namespace replication
}  // namespace converge

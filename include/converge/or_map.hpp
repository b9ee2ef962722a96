#pragma once
/// @file
/// `converge::or_map<K, V>`: an observed-remove map of causal values.

#include "converge/detail/dot_map.hpp"
#include "converge/dot_kernel.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

namespace converge {

/// A causal type: a dot store under a causal context (or_set, mv_register,
/// ew_flag, dw_flag, or_map). These are the values an or_map can nest.
template <class V>
concept causal_type = requires {
  typename V::store_type;
}
&&std::derived_from<V, causal<V, typename V::store_type>>;

/// A map from keys to causal values (or_set, mv_register, flags, or_map…)
/// that all share the map's causal context.
///
/// Updating a key runs any mutator of `V` on the value there and returns a
/// map delta holding only that change. `erase(k)` removes only what this
/// replica has observed at `k`: an update concurrent with the erase
/// survives (update wins), at any nesting depth. A key is present while its
/// value holds something.
///
/// Nested values reached through `find` or iteration are for reading: they
/// carry no context of their own (the map holds it).
///
/// Keys are found by hash when `converge::key_hash<K>` hashes them and
/// `Compare` is `std::less` (see key_hash.hpp), else through an ordered
/// index by `Compare`; either way the map iterates in key order.
template <class K, causal_type V, class Compare = std::less<K>>
class or_map : public causal<or_map<K, V, Compare>, detail::dot_map<K, V, Compare>> {
  using access = detail::causal_access;

 public:
  using key_type = K;
  using mapped_type = V;

  /// Runs `mutator(V&)` on the value at `key` (bottom if absent) and returns
  /// the map delta of the change. The mutator must return the nested delta,
  /// as every mutator of `V` does:
  /// @code
  ///   or_map<std::string, or_set<int>> m;
  ///   auto d = m.update("k", [&](auto& s) { return s.insert(me, 7); });
  /// @endcode
  template <class F>
  requires std::invocable<F&, V&> && std::same_as<std::invoke_result_t<F&, V&>, V> or_map
  update(const K& key, F&& mutator) {
    const std::uint32_t at = this->store_.slot(key);
    V& value = this->store_.value_in(at);
    // Lend the shared context to the nested value for the mutator's run.
    struct lend {
      causal_context& a;
      causal_context& b;
      lend(causal_context& x, causal_context& y) : a(x), b(y) { std::swap(a, b); }
      ~lend() { std::swap(a, b); }
      lend(const lend&) = delete;
      lend& operator=(const lend&) = delete;
    };
    V nested_delta;
    try {
      const lend guard(access::context(value), this->ctx_);
      nested_delta = mutator(value);
    } catch (...) {
      this->store_.settle(at, causal_context{});
      throw;
    }
    this->store_.settle(at, nested_delta.context());

    // The nested delta's context names exactly the dots the change
    // touched: it becomes the map delta's, moved rather than copied.
    or_map delta;
    delta.ctx_ = std::move(access::context(nested_delta));
    delta.store_.put(key, std::move(access::store(nested_delta)));
    return delta;
  }

  /// Removes what this replica has observed at `key`; returns the delta.
  or_map erase(const K& key) {
    or_map delta;
    if (const V* value = find(key)) {
      value->store().for_each_dot([&](const dot& d) { access::context(delta).insert(d); });
    }
    return this->apply(std::move(delta));
  }

  /// Removes everything this replica has observed; returns the delta.
  or_map clear() { return this->apply(this->observed_all()); }

  /// The value at `key`, or nullptr.
  [[nodiscard]] const V* find(const K& key) const { return this->store_.find(key); }
  [[nodiscard]] bool contains(const K& key) const { return find(key) != nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return this->store_.size(); }

  /// A random-access iterator over (key, value) pairs (`it->first`,
  /// `it->second`) in key order; any mutation of the map invalidates it.
  using const_iterator = typename detail::dot_map<K, V, Compare>::const_iterator;
  using iterator = const_iterator;

  /// Iterates (key, value) pairs in key order. The order is built on the
  /// first iteration after keys were added or removed (O(n log n)) and kept;
  /// concurrent const use from several threads is safe.
  [[nodiscard]] const_iterator begin() const { return this->store_.begin(); }
  [[nodiscard]] const_iterator end() const { return this->store_.end(); }
  [[nodiscard]] const_iterator cbegin() const { return begin(); }
  [[nodiscard]] const_iterator cend() const { return end(); }
};

}  // namespace converge

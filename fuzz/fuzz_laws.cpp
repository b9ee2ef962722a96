// fuzz_laws: the lattice laws, the delta law, delta groups, convergence and
// each type's queries against a reference model, for every type of the
// catalog, on three replicas whose deltas the input drops, duplicates and
// reorders.
//
// Input: byte 0 picks the type (fuzz/common/catalogs.hpp `catalog`); the rest drives
// the steps (a local mutator, delivering one pending delta, dropping or
// duplicating it, delivering a group of deltas joined into one, a full-state
// sync) and then the order in which every delta is finally delivered. The same
// bytes then drive one case of converge::testing::check_laws_once.
#include <converge/testing/laws.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/catalogs.hpp"
#include "common/harness.hpp"
#include "common/model.hpp"
#include "common/specs.hpp"

namespace converge_fuzz {
namespace {

template <class T>
class laws_run {
 public:
  explicit laws_run(std::span<const std::uint8_t> bytes) : e_(bytes) {}

  void run() {
    steps_();
    final_();
  }

 private:
  static constexpr std::size_t n = 3;
  struct message {
    std::size_t origin;
    T delta;
    model events;
  };

  void check_(bool holds, const std::string& what, const T* a = nullptr, const T* b = nullptr) {
    if (holds) return;
    std::string out = spec<T>::name() + ": " + what;
    if (a != nullptr) out += "\n  x = " + show(*a);
    if (b != nullptr) out += "\n  y = " + show(*b);
    out += tracing() ? "\n  steps:" + trace_ : "\n  (set CONVERGE_FUZZ_TRACE=1 to print the steps)";
    fail(out);
  }

  void queries_(std::size_t i) {
    std::string err;
    spec<T>::check(st_[i], md_[i], "", err);
    check_(err.empty(), "replica " + std::to_string(i + 1) + ": " + err, &st_[i]);
  }

  void roundtrip_(const T& x) {
    const std::vector<std::byte> bytes = converge::encode(x);
    T back;
    try {
      back = converge::decode<T>(bytes);
    } catch (const converge::decode_error& ex) {
      check_(false, std::string("decode(encode(x)) threw: ") + ex.what(), &x);
    }
    check_(back == x, "decode(encode(x)) != x", &x, &back);
  }

  void deliver_(std::size_t i, const T& d, const model& events) {
    const T old = st_[i];
    if (e_.chance(1, 4)) {
      const T r = converge::novel(d, old);
      check_(converge::leq(r, d), "novel(d, s) <= d", &d, &old);
      converge::join_into(st_[i], r);
      check_(st_[i] == converge::join(old, d), "join(s, novel(d, s)) == join(s, d)", &d, &old);
    } else {
      converge::join_into(st_[i], d);
    }
    check_(converge::leq(old, st_[i]) && converge::leq(d, st_[i]), "a join is an upper bound", &old, &d);
    md_[i].join(events);
    applied_[i].push_back(d);
    queries_(i);
  }

  void steps_() {
    for (int step = 0; step < 160 && !e_.exhausted(); ++step) {
      const std::size_t i = static_cast<std::size_t>(e_.below(n));
      const std::uint64_t kind = e_.below(10);
      if (kind < 4) {  // a local mutator
        const T old = st_[i];
        model events;
        std::string err;
        ctx c{replica_id{i + 1}, e_, md_[i], events, ids_, &err, ""};
        T d = apply_op(st_[i], c);
        if (tracing()) trace_ += "\n    r" + std::to_string(i + 1) + " op -> " + show(d);
        check_(err.empty(), "replica " + std::to_string(i + 1) + " op: " + err, &old);
        check_(converge::join(old, d) == st_[i], "delta law: join(old, delta) == new", &old, &d);
        check_(converge::leq(d, st_[i]), "a delta is included in the new state", &d, &st_[i]);
        const std::size_t id = log_.size();
        log_.push_back({i, d, std::move(events)});
        applied_[i].push_back(std::move(d));
        for (std::size_t j = 0; j < n; ++j) {
          if (j != i) pending_[j].push_back(id);
        }
        queries_(i);
      } else if (kind < 7) {  // one pending delta: deliver, drop or duplicate
        auto& q = pending_[i];
        if (q.empty()) continue;
        const std::size_t k = static_cast<std::size_t>(e_.below(q.size()));
        const std::size_t id = q[k];
        const std::uint64_t what = e_.below(5);
        if (what == 0) {
          trace_ += "\n    r" + std::to_string(i + 1) + " drops #" + std::to_string(id);
          q.erase(q.begin() + static_cast<std::ptrdiff_t>(k));
          continue;
        }
        trace_ += "\n    r" + std::to_string(i + 1) + (what == 1 ? " gets a duplicate of #" : " gets #") +
                  std::to_string(id);
        if (what != 1) q.erase(q.begin() + static_cast<std::ptrdiff_t>(k));
        deliver_(i, log_[id].delta, log_[id].events);
      } else if (kind < 9) {  // a delta group: some pending deltas joined into one
        auto& q = pending_[i];
        if (q.empty()) continue;
        T group{};
        model events;
        const std::size_t take = 1 + static_cast<std::size_t>(e_.below(std::min<std::size_t>(q.size(), 4)));
        trace_ += "\n    r" + std::to_string(i + 1) + " gets the group";
        for (std::size_t t = 0; t < take && !q.empty(); ++t) {
          const std::size_t k = static_cast<std::size_t>(e_.below(q.size()));
          const message& m = log_[q[k]];
          trace_ += " #" + std::to_string(q[k]);
          converge::join_into(group, m.delta);
          events.join(m.events);
          q.erase(q.begin() + static_cast<std::ptrdiff_t>(k));
        }
        deliver_(i, group, events);
      } else {  // full-state sync from another replica
        const std::size_t j = (i + 1 + static_cast<std::size_t>(e_.below(n - 1))) % n;
        trace_ += "\n    r" + std::to_string(i + 1) + " joins the state of r" + std::to_string(j + 1);
        const T other = st_[j];
        const model events = md_[j];
        deliver_(i, other, events);
      }
    }
  }

  void laws_on_samples_() {
    std::vector<T> xs{T{}};
    xs.insert(xs.end(), st_.begin(), st_.end());
    if (!log_.empty()) {
      T group{};
      for (int k = 0; k < 3; ++k) {
        xs.push_back(log_[static_cast<std::size_t>(e_.below(log_.size()))].delta);
        converge::join_into(group, log_[static_cast<std::size_t>(e_.below(log_.size()))].delta);
      }
      xs.push_back(group);
    }
    const T bottom{};
    for (const T& x : xs) {
      check_(converge::join(x, x) == x, "idempotence: join(x, x) == x", &x);
      T self = x;
      converge::join_into(self, self);
      check_(self == x, "join_into(x, x) is a no-op", &x);
      check_(converge::join(x, bottom) == x && converge::join(bottom, x) == x, "bottom is the identity", &x);
      check_(converge::is_bottom(x) == (x == bottom), "is_bottom(x) == (x == T{})", &x);
      roundtrip_(x);
    }
    for (const T& x : xs) {
      for (const T& y : xs) {
        const T xy = converge::join(x, y);
        check_(xy == converge::join(y, x), "commutativity: join(x, y) == join(y, x)", &x, &y);
        check_(converge::leq(x, y) == (xy == y), "order: leq(x, y) == (join(x, y) == y)", &x, &y);
        const T r = converge::novel(x, y);
        check_(converge::join(y, r) == xy, "novel: join(s, novel(d, s)) == join(s, d), d = x, s = y", &x, &y);
        for (const T& z : xs) {
          check_(converge::join(xy, z) == converge::join(x, converge::join(y, z)),
                 "associativity: join(join(x, y), z) == join(x, join(y, z))", &x, &y);
        }
      }
    }
  }

  void final_() {
    laws_on_samples_();
    // Delta groups: joining everything a replica joined, as one group, into
    // bottom gives its state.
    for (std::size_t i = 0; i < n; ++i) {
      T group{};
      for (const T& d : applied_[i]) converge::join_into(group, d);
      check_(group == st_[i], "delta group: the join of every delta a replica joined == its state", &group,
             &st_[i]);
    }
    // Convergence: every delta (dropped ones too) reaches every replica, in a
    // different order at each, some twice; all end at the join of all deltas.
    T top{};
    model all;
    for (const message& m : log_) {
      converge::join_into(top, m.delta);
      all.join(m.events);
    }
    T states{};
    for (const T& s : st_) converge::join_into(states, s);
    check_(states == top, "the join of all states == the join of all deltas", &states, &top);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::size_t> order(log_.size());
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = i == 1 ? order.size() - 1 - k : k;
      if (i == 2) e_.shuffle(order);
      for (const std::size_t id : order) {
        converge::join_into(st_[i], log_[id].delta);
        if (e_.chance(1, 8)) converge::join_into(st_[i], log_[id].delta);
      }
      md_[i] = all;
      check_(st_[i] == top, "convergence: replica " + std::to_string(i + 1) + " after every delta", &st_[i],
             &top);
      queries_(i);
    }
    std::string err;
    if constexpr (requires { spec<T>::check_global(all, "", err); }) {
      spec<T>::check_global(all, "", err);
      check_(err.empty(), err, &top);
    }
    roundtrip_(top);
  }

  byte_entropy e_;
  std::array<T, n> st_{};
  std::array<model, n> md_{};
  std::array<std::vector<std::size_t>, n> pending_{};
  std::array<std::vector<T>, n> applied_{};
  std::vector<message> log_;
  std::uint64_t ids_ = 0;
  std::string trace_;
};

}  // namespace
}  // namespace converge_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace converge_fuzz;
  if (size == 0 || size > 4096) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  with_type(catalog{}, data[0] % catalog::size, [&]<class T>(std::type_identity<T>) {
    laws_run<T>(rest).run();
    byte_entropy e(rest);
    const converge::testing::operation<T> op = [](T& s, replica_id self, entropy& en) {
      return plain_op(s, self, en);
    };
    const auto report = converge::testing::check_laws_once<T>(op, e);
    if (!report.ok) fail(spec<T>::name() + ": check_laws_once: " + report.failure);
  });
  return 0;
}

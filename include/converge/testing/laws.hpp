#pragma once
/// @file
/// A law checker for your own lattices and composed structs: random replicas
/// apply random mutators, and every lattice law, the delta law and
/// convergence are checked. Works from doctest, GoogleTest, a plain main or
/// a libFuzzer harness; it includes no test framework.
///
/// @code
///   #include <converge/testing/laws.hpp>
///   converge::testing::operation<converge::gcounter> op =
///       [](gcounter& s, replica_id self, testing::entropy& e) {
///         return s.increment(self, 1 + e.below(5));   // one random mutator, returning its delta
///       };
///   auto report = converge::testing::check_laws(op, {.seed = 42, .cases = 1000});
///   CHECK_MESSAGE(report.ok, report.failure);          // or: if (!report) { puts(report.failure.c_str()); }
///
///   CONVERGE_LAW_FUZZER(converge::gcounter, op)        // in a fuzz target: defines LLVMFuzzerTestOneInput
/// @endcode
///
/// Each case: `replicas` replicas (ids 1..replicas) take random steps — apply
/// `op`, or join another replica's delta or whole state — then these laws are
/// checked on the states, some deltas and a delta group:
///  - delta law: `join(old, δ) == new` after every op;
///  - join is idempotent (also in place on itself), commutative, associative;
///    `T{}` is its identity and `is_bottom` recognises it;
///  - `leq(x, y) == (join(x, y) == y)`;
///  - novel: `join(s, novel(d, s)) == join(s, d)`, `leq(novel(d, s), d)`, and
///    bottom when `leq(d, s)`; `absorb(s, d)` joins d into s and returns such
///    a novel part; `join_novel({x, y}, s)` is such a novel part of `join(x, y)`;
///  - delta groups: joining all deltas a replica applied, as one group, into
///    bottom gives its state;
///  - convergence: each replica receives every delta in a shuffled order with
///    duplicates (some trimmed with `novel`), and all end at the join of all states.

#include "converge/lattice.hpp"
#include "converge/replica_id.hpp"
#include "converge/testing/entropy.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace converge::testing {

/// Applies one random mutator of `T` to `state` as replica `self`, drawing its
/// choices from `e`, and returns the mutator's delta.
template <class T>
using operation = std::function<T(T& state, replica_id self, entropy& e)>;

/// How much `check_laws` explores.
struct law_options {
  std::uint64_t seed = 1;  ///< run seed; case c uses `case_seed(seed, c)`
  int cases = 1000;        ///< random cases
  int replicas = 3;        ///< replicas per case (ids 1..replicas)
  int max_ops = 12;        ///< up to max_ops * replicas random steps per case
};

/// The outcome of a law check; converts to true when every law held.
struct law_report {
  bool ok = true;
  std::string failure;  ///< the law that failed, the seed and the case number
  std::uint64_t seed = 0;
  int cases_run = 0;
  explicit operator bool() const { return ok; }
};

/// The seed of case `case_index` of a run seeded `seed`: replay one failing
/// case with `seeded_entropy e{case_seed(seed, c)}; check_laws_once(op, e, ...)`.
[[nodiscard]] inline std::uint64_t case_seed(std::uint64_t seed, int case_index) noexcept {
  return replica_id::mix(seed ^ (0x9e3779b97f4a7c15ULL * (static_cast<std::uint64_t>(case_index) + 1)));
}

namespace detail {

template <class T>
concept printable = requires(std::ostream& os, const T& x) {
  os << x;
};

template <class T>
std::string show(const char* name, const T& x) {
  if constexpr (printable<T>) {
    std::ostringstream os;
    os << "\n  " << name << " = " << x;
    return os.str();
  } else {
    (void)name;
    (void)x;
    return {};
  }
}

template <class T>
class law_case {
 public:
  law_case(const operation<T>& op, entropy& e, int replicas, int max_ops)
      : op_(op), e_(e), n_(static_cast<std::size_t>(std::max(replicas, 1))), max_ops_(std::max(max_ops, 0)) {}

  /// Runs the case; returns the empty string, or a description of the first failure.
  std::string run() {
    try {
      play_();
      if (!failed()) laws_on_samples_();
      if (!failed()) groups_();
      if (!failed()) convergence_();
      return failure_;
    } catch (const std::exception& ex) {
      return std::string("an operation or join threw: ") + ex.what();
    }
  }

 private:
  bool failed() const { return !failure_.empty(); }

  bool expect(bool holds, const char* law, const T* a = nullptr, const T* b = nullptr) {
    if (!holds && !failed()) {
      failure_ = std::string("law '") + law + "' does not hold";
      if (a != nullptr) failure_ += show("x", *a);
      if (b != nullptr) failure_ += show("y", *b);
    }
    return holds;
  }

  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(e_.below(n)); }

  void play_() {
    states_.assign(n_, T{});
    own_.assign(n_, {});
    applied_.assign(n_, {});
    const std::uint64_t steps = e_.below(n_ * static_cast<std::uint64_t>(max_ops_) + 1);
    for (std::uint64_t s = 0; s < steps && !failed(); ++s) {
      const std::size_t i = pick(n_);
      if (n_ > 1 && e_.chance(1, 4)) {
        std::size_t j = pick(n_ - 1);
        if (j >= i) ++j;
        const T received = (own_[j].empty() || e_.chance(1, 3)) ? states_[j] : own_[j][pick(own_[j].size())];
        converge::join_into(states_[i], received);
        applied_[i].push_back(received);
        continue;
      }
      const T old = states_[i];
      T delta = op_(states_[i], replica_id{static_cast<std::uint64_t>(i) + 1}, e_);
      const T rebuilt = converge::join(old, delta);
      if (!expect(rebuilt == states_[i], "delta law: join(old, delta) == new", &old, &delta)) break;
      own_[i].push_back(delta);
      applied_[i].push_back(std::move(delta));
    }
  }

  void laws_on_samples_() {
    std::vector<T> xs{T{}};
    xs.insert(xs.end(), states_.begin(), states_.end());
    std::vector<T> all;
    for (const auto& ds : own_) all.insert(all.end(), ds.begin(), ds.end());
    if (!all.empty()) {
      T group{};
      for (int k = 0; k < 3; ++k) {
        xs.push_back(all[pick(all.size())]);
        converge::join_into(group, all[pick(all.size())]);
      }
      xs.push_back(group);
    }

    const T bottom{};
    expect(converge::is_bottom(bottom), "is_bottom(T{})");
    for (const T& x : xs) {
      if (failed()) return;
      expect(converge::join(x, x) == x, "idempotence: join(x, x) == x", &x);
      T self = x;
      converge::join_into(self, self);
      expect(self == x, "join_into(x, x) is a no-op", &x);
      expect(converge::join(x, bottom) == x && converge::join(bottom, x) == x,
             "bottom is the identity: join(x, T{}) == x", &x);
      expect(converge::is_bottom(x) == (x == bottom), "is_bottom(x) == (x == T{})", &x);
      expect(converge::leq(bottom, x) && converge::leq(x, x), "leq(T{}, x) and leq(x, x)", &x);
      expect(converge::is_bottom(converge::novel(x, x)), "novel(x, x) is bottom", &x);
    }
    for (const T& x : xs) {
      for (const T& y : xs) {
        if (failed()) return;
        const T xy = converge::join(x, y);
        expect(xy == converge::join(y, x), "commutativity: join(x, y) == join(y, x)", &x, &y);
        expect(converge::leq(x, y) == (xy == y), "order: leq(x, y) == (join(x, y) == y)", &x, &y);
        expect(converge::leq(x, xy) && converge::leq(y, xy), "join is an upper bound", &x, &y);
        const T r = converge::novel(x, y);
        expect(converge::join(y, r) == converge::join(y, x),
               "novel: join(s, novel(d, s)) == join(s, d), d = x, s = y", &x, &y);
        expect(converge::leq(r, x), "novel: leq(novel(d, s), d), d = x, s = y", &x, &y);
        expect(!converge::leq(x, y) || converge::is_bottom(r), "novel: bottom when leq(d, s), d = x, s = y",
               &x, &y);
        T absorbed = y;
        const T fresh = converge::absorb(absorbed, x);
        expect(absorbed == xy, "absorb: absorb(s, d) leaves s == join(s, d), d = x, s = y", &x, &y);
        expect(converge::join(y, fresh) == xy && converge::leq(fresh, x),
               "absorb: returns a novel part of d (join(s, r) == join(s, d), leq(r, d)), d = x, s = y", &x,
               &y);
        expect(!converge::leq(x, y) || converge::is_bottom(fresh),
               "absorb: bottom when leq(d, s), d = x, s = y", &x, &y);
      }
    }
    for (std::size_t k = 0; k < 3 * xs.size() && !failed(); ++k) {
      const T& x = xs[pick(xs.size())];
      const T& y = xs[pick(xs.size())];
      const T& z = xs[pick(xs.size())];
      expect(converge::join(converge::join(x, y), z) == converge::join(x, converge::join(y, z)),
             "associativity: join(join(x, y), z) == join(x, join(y, z))", &x, &y);
      const T* parts[] = {&x, &y};
      const T xy = converge::join(x, y);
      const T r = converge::join_novel(std::span<const T* const>(parts), z);
      expect(
          converge::leq(r, xy) && converge::join(z, r) == converge::join(z, xy),
          "join_novel: join(s, join_novel({x, y}, s)) == join(s, join(x, y)) and leq(r, join(x, y)), s = z",
          &x, &y);
      expect(!converge::leq(xy, z) || converge::is_bottom(r),
             "join_novel: bottom when leq(join(x, y), s), s = z", &x, &y);
    }
  }

  void groups_() {
    for (std::size_t i = 0; i < n_ && !failed(); ++i) {
      std::vector<T> ds = applied_[i];
      e_.shuffle(ds);
      T group{};
      for (const T& d : ds) converge::join_into(group, d);
      const T rebuilt = converge::join(T{}, group);
      expect(rebuilt == states_[i], "delta groups: join(T{}, join of a replica's deltas) == its state",
             &rebuilt, &states_[i]);
    }
  }

  void convergence_() {
    T top{};
    for (const T& s : states_) converge::join_into(top, s);
    std::vector<T> all;
    for (const auto& ds : own_) all.insert(all.end(), ds.begin(), ds.end());
    T from_deltas{};
    for (const T& d : all) converge::join_into(from_deltas, d);
    expect(from_deltas == top, "the join of every delta == the join of every state", &from_deltas, &top);
    for (std::size_t i = 0; i < n_ && !failed(); ++i) {
      std::vector<T> inbox = all;
      for (std::size_t k = 0, n = all.size(); k < n; ++k) {
        if (e_.chance(1, 4)) inbox.push_back(all[k]);  // duplicates
      }
      e_.shuffle(inbox);
      T r = states_[i];
      for (const T& d : inbox) {
        if (e_.chance(1, 2)) {
          converge::join_into(r, converge::novel(d, r));
        } else {
          converge::join_into(r, d);
        }
      }
      expect(r == top, "convergence: every replica ends at the join of all states", &r, &top);
    }
  }

  const operation<T>& op_;
  entropy& e_;
  std::size_t n_;
  int max_ops_;
  std::vector<T> states_;
  std::vector<std::vector<T>> own_;      // deltas each replica's ops returned
  std::vector<std::vector<T>> applied_;  // everything each replica joined, own deltas included
  std::string failure_;
};

}  // namespace detail

/// Runs one random case with choices from `e` (for fuzzers, or to replay a
/// case with `seeded_entropy{case_seed(seed, c)}`); reports the first law that fails.
template <converge::delta_lattice T>
[[nodiscard]] law_report check_laws_once(const operation<T>& op, entropy& e, int replicas = 3,
                                         int max_ops = 12) {
  law_report report;
  report.cases_run = 1;
  std::string failure = detail::law_case<T>(op, e, replicas, max_ops).run();
  if (!failure.empty()) {
    report.ok = false;
    report.failure = "converge: " + failure;
  }
  return report;
}

/// Runs `options.cases` random cases from `options.seed` and reports the
/// first law that fails, naming the seed and the case index.
template <converge::delta_lattice T>
[[nodiscard]] law_report check_laws(const operation<T>& op, law_options options = {}) {
  law_report report;
  report.seed = options.seed;
  for (int c = 0; c < options.cases; ++c) {
    seeded_entropy e{case_seed(options.seed, c)};
    law_report one = check_laws_once<T>(op, e, options.replicas, options.max_ops);
    ++report.cases_run;
    if (!one.ok) {
      report.ok = false;
      report.failure = one.failure + "\n  (seed " + std::to_string(options.seed) + ", case " +
                       std::to_string(c) + " of " + std::to_string(options.cases) +
                       "; replay with seeded_entropy{case_seed(" + std::to_string(options.seed) + ", " +
                       std::to_string(c) + ")})";
      break;
    }
  }
  return report;
}

}  // namespace converge::testing

/// Defines `LLVMFuzzerTestOneInput` checking the laws of `Type` with `op` (an
/// `operation<Type>` or a lambda) on one case drawn from the fuzzer's bytes;
/// prints the failure to stderr and aborts when a law fails.
#define CONVERGE_LAW_FUZZER(Type, op)                                                                   \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {                   \
    static const ::converge::testing::operation<Type> converge_law_op_{op};                             \
    ::converge::testing::byte_entropy converge_law_entropy_{std::span<const std::uint8_t>(data, size)}; \
    const ::converge::testing::law_report converge_law_report_ =                                        \
        ::converge::testing::check_laws_once<Type>(converge_law_op_, converge_law_entropy_);            \
    if (!converge_law_report_.ok) {                                                                     \
      std::fprintf(stderr, "%s\n", converge_law_report_.failure.c_str());                               \
      std::abort();                                                                                     \
    }                                                                                                   \
    return 0;                                                                                           \
  }

// converge-bench-peers: converge on the workloads of bench/peers/peers.mjs
// (Yjs and Automerge), one JSON object on stdout.
//
//   converge-bench-peers [--cases a,b] [--reps R] [--adds N] [--pipeline M]
//     [--pipeline-base B] [--merge-sizes N1,N2] [--delta-n N] [--replicas R]
//     [--keys K] [--counters C] [--rounds R] [--memory-n N] [--small]
//
// Every case checks its result; a failed check prints to stderr, marks the
// case "ok": false and makes the program exit 1. Times are the process CPU
// time (the machine is shared: wall time mostly measures the other
// processes), with wall time alongside, best of --reps repetitions; setup
// (building the states to merge, copying the target) is outside the timed
// region. bench/peers/README.md describes the workloads and bench/peers/run
// runs them next to the peers.

#include <converge/gcounter.hpp>
#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>
#include <converge/wire/encode.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <malloc.h>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../common.hpp"

namespace {

using namespace converge;
using converge_bench::str_key;

using string_set = or_set<std::string>;
using register_map = or_map<std::string, mv_register<std::string>>;

/// The parts joined (appends, rather than `"a" + std::string`, which g++ 12
/// warns about with a false -Wrestrict at -O3).
std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const auto p : parts) out.append(p);
  return out;
}

// ------------------------------------------------------------ options

struct options {
  std::vector<std::string> cases;
  int reps = 3;
  std::size_t adds = 100'000, pipeline = 2'000, pipeline_base = 100'000, delta_n = 1'000'000;
  std::vector<std::size_t> merge_sizes{100'000, 1'000'000};
  std::size_t replicas = 20, keys = 1'000, counters = 64, rounds = 10'000, memory_n = 100'000;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// -------------------------------------------------------------- output

/// One case's fields, in order, as JSON.
class fields {
 public:
  void add(const std::string& name, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    put(name, buf);
  }
  void add(const std::string& name, std::size_t v) { put(name, std::to_string(v)); }
  void add(const std::string& name, bool v) { put(name, v ? "true" : "false"); }
  void add(const std::string& name, const char* v) { put(name, '"' + std::string(v) + '"'); }
  [[nodiscard]] std::string json() const { return "{" + body_ + "}"; }

 private:
  void put(const std::string& name, const std::string& value) {
    if (!body_.empty()) body_ += ", ";
    body_ += '"' + name + "\": " + value;
  }
  std::string body_;
};

bool case_ok = true;

/// Records a failed check of the current case (and says which).
void check(bool cond, const std::string& what) {
  if (cond) return;
  case_ok = false;
  std::fprintf(stderr, "converge-bench-peers: CHECK FAILED: %s\n", what.c_str());
}

// -------------------------------------------------------------- timing

/// Milliseconds of process CPU time and of wall time.
struct span_ms {
  double cpu = 0, wall = 0;
};

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wall_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

/// Times `f()`.
template <class F>
span_ms timed(F&& f) {
  const double c0 = cpu_ms(), w0 = wall_ms();
  f();
  return {cpu_ms() - c0, wall_ms() - w0};
}

/// The best of several repetitions, by CPU time.
span_ms best(const std::vector<span_ms>& xs) {
  return *std::min_element(xs.begin(), xs.end(),
                           [](const span_ms& a, const span_ms& b) { return a.cpu < b.cpu; });
}

/// Adds `name` (CPU) and `name_wall`, scaled by `scale / ops` (ms -> ns per op by default).
void add_time(fields& f, const std::string& name, span_ms t, double ops = 1, double scale = 1e6) {
  f.add(name, t.cpu * scale / ops);
  f.add(name + "_wall", t.wall * scale / ops);
}

/// str_key(from + i, salt) for i < n.
std::vector<std::string> make_keys(std::size_t n, std::uint64_t salt, std::size_t from = 0) {
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(str_key(from + i, salt));
  return out;
}

long long malloc_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<long long>(mi.uordblks + mi.hblkhd);
}

/// The ids of replicas 1, 2, 3…: small integers, or derived from names.
replica_id rid(std::size_t i, bool named) {
  return named ? replica_id::from_name(concat({"replica-", std::to_string(i)})) : replica_id{i};
}

string_set build_set(const std::vector<std::string>& ks, replica_id r) {
  string_set s;
  for (const auto& k : ks) s.insert(r, k);
  return s;
}

// --------------------------------------------------------------- cases

/// Encoded and in-memory bytes per element of an n-element set (one replica).
fields bytes_per_element(const options& o) {
  const std::size_t n = o.memory_n;
  const auto ks = make_keys(n, 1);
  fields f;
  f.add("n", n);
  for (const bool named : {false, true}) {
    malloc_trim(0);
    const long long before = malloc_in_use();
    const string_set s = build_set(ks, rid(1, named));
    const long long held = malloc_in_use() - before;
    check(s.size() == n, "bytes_per_element: size");
    const std::string suffix = named ? "_from_name" : "";
    const std::size_t encoded = encode(s).size();
    f.add("encoded_bytes" + suffix, encoded);
    f.add("encoded_bytes_per_element" + suffix, static_cast<double>(encoded) / static_cast<double>(n));
    f.add("memory_bytes_per_element" + suffix, static_cast<double>(held) / static_cast<double>(n));
    f.add("heap_bytes_per_element" + suffix, static_cast<double>(s.heap_bytes()) / static_cast<double>(n));
  }
  f.add("memory_measure", "mallinfo2 uordblks+hblkhd");
  return f;
}

/// n set inserts (deltas returned and dropped) by one replica.
fields set_adds(const options& o) {
  const auto ks = make_keys(o.adds, 1);
  std::vector<span_ms> times;
  for (int rep = 0; rep < o.reps; ++rep) {
    string_set s;
    times.push_back(timed([&] {
      for (const auto& k : ks) s.insert(replica_id{1}, k);
    }));
    check(s.size() == o.adds, "set_adds: size");
  }
  fields f;
  f.add("n", o.adds);
  add_time(f, "ns_per_op", best(times), static_cast<double>(o.adds));
  return f;
}

/// n map writes of string values by one replica.
fields map_writes(const options& o) {
  const auto ks = make_keys(o.adds, 1);
  std::vector<span_ms> times;
  for (int rep = 0; rep < o.reps; ++rep) {
    register_map m;
    times.push_back(timed([&] {
      for (const auto& k : ks)
        m.update(k, [&](auto& v) { return v.assign(replica_id{1}, concat({"v-", k})); });
    }));
    check(m.size() == o.adds, "map_writes: size");
    const auto* v = m.find(ks.back());
    check(v != nullptr && v->values() == std::vector<std::string>{concat({"v-", ks.back()})},
          "map_writes: value");
  }
  fields f;
  f.add("n", o.adds);
  add_time(f, "ns_per_op", best(times), static_cast<double>(o.adds));
  return f;
}

/// Replica a and replica b hold `base` elements; a makes m inserts; each
/// delta is encoded, decoded and joined at b. Time per delta (insert,
/// encode, decode, join) and bytes per delta.
fields pipeline(const options& o) {
  const auto base_keys = make_keys(o.pipeline_base, 1), new_keys = make_keys(o.pipeline, 2);
  const replica_id ra = replica_id::from_name("replica-a");
  const string_set start = build_set(base_keys, ra);
  std::vector<span_ms> times;
  std::size_t bytes = 0, first = 0;
  for (int rep = 0; rep < o.reps; ++rep) {
    string_set a = start, b = start;
    bytes = 0;
    times.push_back(timed([&] {
      for (std::size_t i = 0; i < new_keys.size(); ++i) {
        const auto wire = encode(a.insert(ra, new_keys[i]));
        b.join(decode<string_set>(wire));
        bytes += wire.size();
        if (i == 0) first = wire.size();
      }
    }));
    check(b.size() == o.pipeline_base + o.pipeline && b == a, "pipeline: receiver differs from sender");
  }
  // The same first delta from a replica with a small id.
  string_set small = build_set(base_keys, replica_id{1});
  const std::size_t first_small = encode(small.insert(replica_id{1}, new_keys[0])).size();
  fields f;
  f.add("base", o.pipeline_base);
  f.add("m", o.pipeline);
  add_time(f, "ns_per_delta", best(times), static_cast<double>(o.pipeline));
  f.add("bytes_per_delta", static_cast<double>(bytes) / static_cast<double>(o.pipeline));
  f.add("first_delta_bytes", first);
  f.add("first_delta_bytes_small_id", first_small);
  f.add("unit", "encode(insert delta), from_name id");
  return f;
}

/// The bytes of one more insert into a set of n elements (one replica).
fields delta_at_n(const options& o) {
  const auto ks = make_keys(o.delta_n, 1);
  const std::string extra = str_key(0, 2);
  fields f;
  f.add("n", o.delta_n);
  for (const bool named : {true, false}) {
    string_set s = build_set(ks, rid(1, named));
    const std::size_t bytes = encode(s.insert(rid(1, named), extra)).size();
    check(s.size() == o.delta_n + 1, "delta_at_n: size");
    f.add(named ? "delta_bytes" : "delta_bytes_small_id", bytes);
  }
  return f;
}

/// Two n-element sets, half shared (replica 1 inserts n/2 into a state both
/// sides start from; replica 2 inserts n/2 on side A, replica 3 n/2 others
/// on side B); timed: joining B into a copy of A (result 1.5n).
fields merge(const options& o, std::size_t n) {
  const std::size_t half = n / 2;
  const auto shared = make_keys(half, 1), on_a = make_keys(half, 2), on_b = make_keys(half, 3);
  fields f;
  f.add("n", n);
  f.add("result_size", 3 * half);
  double small_cpu = 0;
  for (const bool named : {false, true}) {
    const string_set s = build_set(shared, rid(1, named));
    string_set a = s, b = s;
    for (const auto& k : on_a) a.insert(rid(2, named), k);
    for (const auto& k : on_b) b.insert(rid(3, named), k);
    const auto b_wire = encode(b);
    std::vector<span_ms> times, decode_times;
    for (int rep = 0; rep < o.reps; ++rep) {
      string_set target = a;
      times.push_back(timed([&] { target.join(b); }));
      check(target.size() == 3 * half, "merge: size after join");
      string_set target2 = a;
      decode_times.push_back(timed([&] { target2.join(decode<string_set>(b_wire)); }));
      check(target2 == target, "merge: decode + join differs from join");
    }
    const std::string suffix = named ? "_from_name" : "";
    add_time(f, "ms" + suffix, best(times), 1, 1);
    add_time(f, "ms_decode_join" + suffix, best(decode_times), 1, 1);
    if (named) {
      f.add("from_name_over_small_id", best(times).cpu / small_cpu);
    } else {
      small_cpu = best(times).cpu;
    }
  }
  return f;
}

/// R replicas each write the same K keys concurrently into their own
/// register map; then all are joined into a copy of the first.
fields map_concurrent(const options& o) {
  const std::size_t R = o.replicas, K = o.keys;
  const auto ks = make_keys(K, 1);
  // Replica r writes "r<r>-" and 12 random hex digits at key i (values do not
  // repeat the key, so compression gains nothing from the pairing).
  std::vector<std::vector<std::string>> vals(R + 1);
  for (std::size_t r = 1; r <= R; ++r) {
    for (const auto& x : make_keys(K, 5, r * K)) vals[r].push_back(concat({"r", std::to_string(r), "-", x}));
  }
  fields f;
  f.add("replicas", R);
  f.add("keys", K);
  for (const bool named : {false, true}) {
    std::vector<span_ms> write_times, merge_times;
    std::size_t encoded = 0;
    for (int rep = 0; rep < o.reps; ++rep) {
      std::vector<register_map> maps(R);
      span_ms w;
      for (std::size_t r = 0; r < R; ++r) {
        const replica_id id = rid(r + 1, named);
        const auto& mine = vals[r + 1];
        const span_ms t = timed([&] {
          for (std::size_t i = 0; i < K; ++i) {
            maps[r].update(ks[i], [&](auto& v) { return v.assign(id, mine[i]); });
          }
        });
        w.cpu += t.cpu;
        w.wall += t.wall;
      }
      write_times.push_back(w);
      register_map target = maps[0];
      merge_times.push_back(timed([&] {
        for (std::size_t r = 1; r < R; ++r) target.join(maps[r]);
      }));
      // mv_register keeps every concurrent value: R at each key.
      bool good = target.size() == K;
      for (std::size_t i = 0; i < K && good; ++i) {
        const auto* v = target.find(ks[i]);
        std::vector<std::string> want;
        for (std::size_t r = 1; r <= R; ++r) want.push_back(vals[r][i]);
        std::sort(want.begin(), want.end());
        good = v != nullptr && v->values() == want;
      }
      check(good, "map_concurrent: every key must hold every replica's value");
      encoded = encode(target).size();
      check(decode<register_map>(encode(target)) == target, "map_concurrent: decode(encode) differs");
    }
    const std::string suffix = named ? "_from_name" : "";
    add_time(f, "write_ns_per_op" + suffix, best(write_times), static_cast<double>(R * K));
    add_time(f, "merge_ms" + suffix, best(merge_times), 1, 1);
    f.add("encoded_bytes" + suffix, encoded);
  }
  return f;
}

/// C replicas, each round every one increments its gcounter once and the
/// delta is joined at an aggregating replica.
fields counters(const options& o) {
  const std::size_t C = o.counters;
  std::vector<span_ms> times;
  for (int rep = 0; rep < o.reps; ++rep) {
    std::vector<gcounter> cs(C);
    gcounter agg;
    times.push_back(timed([&] {
      for (std::size_t round = 0; round < o.rounds; ++round) {
        for (std::size_t i = 0; i < C; ++i) agg.join(cs[i].increment(replica_id{i + 1}));
      }
    }));
    check(agg.value() == C * o.rounds, "counters: aggregated value");
  }
  fields f;
  f.add("counters", C);
  f.add("rounds", o.rounds);
  add_time(f, "ns_per_increment", best(times), static_cast<double>(C * o.rounds));
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    const auto num = [&] { return static_cast<std::size_t>(std::strtoull(argv[++i], nullptr, 10)); };
    if (a == "--small") {
      o.reps = 1;
      o.adds = 2'000;
      o.pipeline = 200;
      o.pipeline_base = 2'000;
      o.delta_n = 20'000;
      o.merge_sizes = {2'000, 20'000};
      o.replicas = 4;
      o.keys = 100;
      o.rounds = 100;
      o.memory_n = 2'000;
    } else if (a == "--cases" && has) {
      o.cases = split(argv[++i]);
    } else if (a == "--reps" && has) {
      o.reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--adds" && has) {
      o.adds = num();
    } else if (a == "--pipeline" && has) {
      o.pipeline = std::max<std::size_t>(1, num());
    } else if (a == "--pipeline-base" && has) {
      o.pipeline_base = num();
    } else if (a == "--delta-n" && has) {
      o.delta_n = num();
    } else if (a == "--merge-sizes" && has) {
      o.merge_sizes.clear();
      for (const auto& s : split(argv[++i])) o.merge_sizes.push_back(std::strtoull(s.c_str(), nullptr, 10));
    } else if (a == "--replicas" && has) {
      o.replicas = std::max<std::size_t>(1, num());
    } else if (a == "--keys" && has) {
      o.keys = std::max<std::size_t>(1, num());
    } else if (a == "--counters" && has) {
      o.counters = num();
    } else if (a == "--rounds" && has) {
      o.rounds = num();
    } else if (a == "--memory-n" && has) {
      o.memory_n = std::max<std::size_t>(1, num());
    } else {
      std::fprintf(stderr,
                   "usage: converge-bench-peers [--cases a,b] [--reps R] [--adds N] [--pipeline M]\n"
                   "  [--pipeline-base B] [--merge-sizes N1,N2] [--delta-n N] [--replicas R] [--keys K]\n"
                   "  [--counters C] [--rounds R] [--memory-n N] [--small]\n");
      return 2;
    }
  }

  std::vector<std::pair<std::string, std::function<fields()>>> all{
      {"bytes_per_element", [&] { return bytes_per_element(o); }},
      {"set_adds", [&] { return set_adds(o); }},
      {"map_writes", [&] { return map_writes(o); }},
      {"pipeline", [&] { return pipeline(o); }},
      {"delta_at_n", [&] { return delta_at_n(o); }},
  };
  for (const std::size_t n : o.merge_sizes)
    all.emplace_back(concat({"merge_", std::to_string(n)}), [&o, n] { return merge(o, n); });
  all.emplace_back("map_concurrent", [&] { return map_concurrent(o); });
  all.emplace_back("counters", [&] { return counters(o); });

  if (o.cases.empty()) {
    for (const auto& c : all) o.cases.push_back(c.first);
  }
  bool all_ok = true;
  std::string out = "{\"side\": \"converge\", \"cases\": {";
  for (std::size_t i = 0; i < o.cases.size(); ++i) {
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.first == o.cases[i]; });
    if (it == all.end()) {
      std::fprintf(stderr, "converge-bench-peers: no case %s\n", o.cases[i].c_str());
      return 2;
    }
    case_ok = true;
    fields f = it->second();
    f.add("ok", case_ok);
    all_ok = all_ok && case_ok;
    out += (i ? ",\n  \"" : "\n  \"") + it->first + "\": " + f.json();
  }
  out += std::string("\n}, \"ok\": ") + (all_ok ? "true" : "false") + "}\n";
  std::fputs(out.c_str(), stdout);
  return all_ok ? 0 : 1;
}

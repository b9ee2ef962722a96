// converge-bench-memory: heap bytes per element of large states.
//
//   converge-bench-memory [--n N] [--json]
//
// Two independent measures of what a structure holds once built:
//   new_bytes    live bytes through a counting global operator new/delete
//                (malloc_usable_size of every block: what the allocator
//                really reserved for it, rounding included);
//   malloc_bytes the change of glibc's mallinfo2(): uordblks (in use in the
//                arenas) + hblkhd (blocks glibc mapped with mmap, which large
//                vectors are), so nothing escapes by being mmap'd.
// Each structure is built by local inserts (deltas dropped), measured, then
// destroyed before the next one, in one process.
//
// Built with the transport (CONVERGE_BENCH_NODE), it also weighs a
// poll-driven zmq_node holding the same 1M-element or_set with a subscriber
// (after one mutate and one process(), so the subscription has worked),
// context and sockets included: compare it with or_set_u64.

#include <converge/mv_register.hpp>
#include <converge/or_map.hpp>
#include <converge/or_set.hpp>

#include "common.hpp"
#include "node_or_set.hpp"
#if CONVERGE_BENCH_NODE
#include <converge/transport/zmq_node.hpp>
#endif

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <malloc.h>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {
std::atomic<long long> live_bytes{0};
std::atomic<long long> live_blocks{0};

void* counted_alloc(std::size_t n, std::size_t align) {
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n ? n : 1);
  if (p == nullptr) throw std::bad_alloc();
  live_bytes.fetch_add(static_cast<long long>(malloc_usable_size(p)), std::memory_order_relaxed);
  live_blocks.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<long long>(malloc_usable_size(p)), std::memory_order_relaxed);
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }

namespace {

using namespace converge;
using converge_bench::make_key;

long long malloc_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<long long>(mi.uordblks + mi.hblkhd);
}

struct sample {
  std::string name;
  std::size_t n;
  long long new_bytes, blocks, malloc_bytes;
  long long self_reported;  // the structure's own heap_bytes(), or -1
};

std::vector<sample> samples;

/// Builds with `build()` (which returns the structure), measures while it lives.
template <class Build>
void measure(const std::string& name, std::size_t n, Build build) {
  malloc_trim(0);
  const long long b0 = live_bytes.load(), k0 = live_blocks.load(), m0 = malloc_in_use();
  {
    auto s = build();
    const long long b1 = live_bytes.load(), k1 = live_blocks.load(), m1 = malloc_in_use();
    long long self = -1;
    if constexpr (requires { s.heap_bytes(); }) self = static_cast<long long>(s.heap_bytes());
    samples.push_back({name, n, b1 - b0, k1 - k0, m1 - m0, self});
  }
}

template <class S, class T>
S build_set(std::size_t n) {
  S s;
  for (std::size_t i = 0; i < n; ++i) s.insert(replica_id{1}, make_key<T>(i, 1));
  return s;
}

template <class T>
std::unordered_set<T> build_uset(std::size_t n) {
  std::unordered_set<T> s;
  for (std::size_t i = 0; i < n; ++i) s.insert(make_key<T>(i, 1));
  return s;
}

using omap = or_map<std::uint64_t, mv_register<std::uint64_t>>;

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 1'000'000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--n" && i + 1 < argc) {
      n = std::stoull(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: converge-bench-memory [--n N] [--json]\n");
      return 2;
    }
  }
  measure("or_set_u64", n, [&] { return build_set<or_set<std::uint64_t>, std::uint64_t>(n); });
#if CONVERGE_BENCH_NODE
  measure("zmq_node_or_set_u64_subscribed", n, [&] {
    using node = zmq_node<or_set<std::uint64_t>>;
    node_options o;
    o.id = 1;
    o.replica = replica_id{1};
    o.bind = {"inproc://memory-bench"};
    o.log = {};
    auto nd = std::make_unique<node>(o, build_set<or_set<std::uint64_t>, std::uint64_t>(n));
    static std::uint64_t seen = 0;  // outlives the node
    nd->subscribe([](const state_change<or_set<std::uint64_t>>& c) { seen += c.delta.size(); });
    nd->mutate(
        [&](or_set<std::uint64_t>& s) { return s.insert(replica_id{1}, make_key<std::uint64_t>(n, 1)); });
    nd->process();
    if (seen != 1)
      std::fprintf(stderr, "memory bench: the subscriber saw %llu elements\n", (unsigned long long)seen);
    return nd;
  });
#endif
  measure("or_set_u64_from_deltas", n, [&] {
    // The same elements received as one delta each from a peer.
    or_set<std::uint64_t> s, src;
    for (std::size_t i = 0; i < n; ++i) s.join(src.insert(replica_id{2}, make_key<std::uint64_t>(i, 1)));
    return s;
  });
  measure("or_set_u64_three_writers", n, [&] {
    // Inserts by three replicas in turn: the records are out of dot order,
    // so the store keeps its dot index (a single writer's state does not).
    or_set<std::uint64_t> s;
    for (std::size_t i = 0; i < n; ++i) s.insert(replica_id{1 + i % 3}, make_key<std::uint64_t>(i, 1));
    return s;
  });
  measure("or_set_string", n, [&] { return build_set<or_set<std::string>, std::string>(n); });
  measure("or_map_u64_mv_register", n, [&] {
    omap m;
    for (std::size_t i = 0; i < n; ++i) {
      const auto k = make_key<std::uint64_t>(i, 1);
      m.update(k, [&](auto& v) { return v.assign(replica_id{1}, k); });
    }
    return m;
  });
  measure("node_or_set_u64", n,
          [&] { return build_set<converge_bench::node_or_set<std::uint64_t>, std::uint64_t>(n); });
#if CONVERGE_BENCH_HOPSCOTCH
  measure("hopscotch_or_set_u64", n, [&] {
    return build_set<converge_bench::node_or_set<std::uint64_t, converge_bench::hopscotch_map>,
                     std::uint64_t>(n);
  });
#endif
  measure("unordered_set_u64", n, [&] { return build_uset<std::uint64_t>(n); });
  measure("unordered_set_string", n, [&] { return build_uset<std::string>(n); });
  measure("unordered_map_u64_u64", n, [&] {
    std::unordered_map<std::uint64_t, std::uint64_t> m;
    for (std::size_t i = 0; i < n; ++i) m.emplace(make_key<std::uint64_t>(i, 1), i);
    return m;
  });

  if (json) {
    std::printf("[");
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const sample& s = samples[i];
      std::printf(
          "%s{\"name\":\"%s\",\"n\":%zu,\"new_bytes\":%lld,\"blocks\":%lld,\"malloc_bytes\":%lld,"
          "\"self_reported_bytes\":%lld,\"new_bytes_per_element\":%.2f,\"malloc_bytes_per_element\":%.2f}",
          i ? "," : "", s.name.c_str(), s.n, s.new_bytes, s.blocks, s.malloc_bytes, s.self_reported,
          static_cast<double>(s.new_bytes) / s.n, static_cast<double>(s.malloc_bytes) / s.n);
    }
    std::printf("]\n");
  } else {
    std::printf("%-26s %10s %14s %14s %12s\n", "structure", "n", "new B/elem", "malloc B/elem", "blocks");
    for (const sample& s : samples) {
      std::printf("%-26s %10zu %14.2f %14.2f %12lld\n", s.name.c_str(), s.n,
                  static_cast<double>(s.new_bytes) / s.n, static_cast<double>(s.malloc_bytes) / s.n,
                  s.blocks);
    }
  }
  return 0;
}

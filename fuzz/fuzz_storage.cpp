// fuzz_storage: corrupt snapshots and logs into the journal loader.
// The input is cut into records; they go through
// converge::replication::read_journal in both modes and, when a mode
// accepts them, through replicator<State>::restore. Nothing may crash, hang
// or allocate hugely, and the only failure allowed is journal_error. The
// two modes must agree: `truncate` keeps exactly the records before the one
// `strict` refuses (all of them when `strict` accepts). A restored replica
// must come back the same: its journal, after a few local writes and a
// tick, restores to an equal state.
//
// Input: byte 0 picks the state type (fuzz/common/catalogs.hpp
// `storage_catalog`, byte % size) and, in bit (byte / size) & 1, whether
// the harness recomputes every record's checksum (so mutations reach the
// record layout and the states instead of stopping at the CRC). Then
// records: varint(length) and that many bytes (cut short at the end), at
// most 256 of them. make_corpus writes real journals in this form.
#include <converge/replication/journal.hpp>
#include <converge/replication/memory_journal.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/testing/entropy.hpp>
#include <converge/testing/operations.hpp>
#include <converge/wire/varint.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "common/catalogs.hpp"
#include "common/harness.hpp"

namespace converge_fuzz {
namespace {

using converge::replication::journal_error;
using converge::replication::recovered_journal;
using converge::replication::torn_tail;
using records_t = std::vector<std::vector<std::byte>>;

records_t split(std::span<const std::byte> in, bool fix_checksums) {
  records_t out;
  std::size_t pos = 0;
  while (pos < in.size() && out.size() < 256) {
    converge::wire::detail::varint_error e = converge::wire::detail::varint_error::none;
    const std::uint64_t len = converge::wire::detail::read_varint(in, pos, e);
    if (e != converge::wire::detail::varint_error::none) break;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, in.size() - pos));
    std::vector<std::byte> r(in.begin() + static_cast<std::ptrdiff_t>(pos),
                             in.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    if (fix_checksums && r.size() >= 4) r = converge::replication::detail::seal_record(std::move(r));
    out.push_back(std::move(r));
  }
  return out;
}

struct outcome {
  std::optional<recovered_journal> journal;
  std::optional<std::size_t> refused;  ///< the record named by the journal_error
  bool threw = false;
};

outcome read(const records_t& records, torn_tail tail) {
  outcome o;
  try {
    o.journal = converge::replication::read_journal(records, tail);
  } catch (const journal_error& e) {
    o.threw = true;
    o.refused = e.record();
  } catch (const std::exception& e) {
    fail(std::string("read_journal threw something other than journal_error: ") + e.what());
  }
  return o;
}

bool same(const recovered_journal& a, const recovered_journal& b) {
  if (a.self != b.self || a.snapshot_end != b.snapshot_end || a.end != b.end || a.state != b.state ||
      a.acks != b.acks || a.deltas.size() != b.deltas.size())
    return false;
  for (std::size_t i = 0; i < a.deltas.size(); ++i) {
    const auto &x = a.deltas[i], &y = b.deltas[i];
    if (x.seq != y.seq || x.buffered != y.buffered || x.origin != y.origin || x.delta != y.delta)
      return false;
  }
  return true;
}

/// The two modes agree (see the file comment).
void check_modes(const records_t& records, const outcome& strict, const outcome& trunc) {
  const std::size_t n = records.size();
  if (n == 0) {
    if (strict.threw || strict.journal || trunc.threw || trunc.journal)
      fail("no records is not a new journal");
    return;
  }
  if (trunc.journal && trunc.journal->records + trunc.journal->dropped != n)
    fail("truncate: records kept + dropped != records given");
  if (!strict.threw) {
    if (!strict.journal || !trunc.journal) fail("records accepted by strict gave no journal in some mode");
    if (trunc.journal->dropped != 0 || !same(*strict.journal, *trunc.journal))
      fail("truncate differs from strict on records strict accepts");
    return;
  }
  if (!strict.refused) fail("strict refused the records without naming one");
  const std::size_t k = *strict.refused;
  if (k >= n) fail("strict named record " + std::to_string(k) + " of " + std::to_string(n));
  if (k == 0) {
    if (!trunc.threw) fail("truncate accepted a journal whose snapshot strict refused");
    return;
  }
  if (trunc.threw || !trunc.journal)
    fail("truncate refused records strict accepted up to " + std::to_string(k));
  if (trunc.journal->records != k) fail("truncate kept a different prefix than strict refused");
  // The kept prefix alone is what strict accepts.
  const records_t prefix(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(k));
  const outcome again = read(prefix, torn_tail::strict);
  if (again.threw || !again.journal || !same(*again.journal, *trunc.journal))
    fail("strict on the prefix truncate kept differs from truncate");
}

template <class T>
void restore_and_back(const records_t& records, const recovered_journal& j, std::uint64_t seed) {
  // The journal the replica restarts on holds what it was restored from.
  converge::replication::memory_journal mem;
  for (std::size_t i = 0; i < j.records; ++i) mem.append(records[i]);
  mem.sync();
  converge::replicator_options o;
  o.journal = &mem;
  o.min_compaction_bytes = 256;  // compaction is part of what is under test
  std::optional<converge::replicator<T>> r;
  try {
    r.emplace(converge::replicator<T>::restore(j, o));
  } catch (const journal_error&) {
    return;
  } catch (const std::exception& e) {
    fail(std::string("restore threw something other than journal_error: ") + e.what());
  }
  // The restored replica writes a little, then its journal must restore to
  // the same state.
  try {
    converge::testing::seeded_entropy e(seed);
    const converge::replica_id self = j.self;
    for (int k = 0; k < 3; ++k) {
      r->mutate([&](T& s) { return converge::testing::random_op<T>(s, self, e); });
    }
    (void)r->tick(1000);
    (void)r->tick(100000);
  } catch (const std::overflow_error&) {
    return;  // a forged context exhausted the replica's dot counter: refused, as it should be
  } catch (const std::exception& e) {
    fail(std::string("a restored replicator threw: ") + e.what());
  }
  std::optional<recovered_journal> back;
  try {
    back = converge::replication::read_journal(mem.load(), torn_tail::strict);
  } catch (const journal_error& e) {
    fail(std::string("a restored replicator's own journal does not read back: ") + e.what());
  }
  if (!back) fail("a restored replicator's own journal is empty");
  try {
    const auto again = converge::replicator<T>::restore(*back, converge::replicator_options{});
    if (!(again.state() == r->state()))
      fail("restore(its own journal) != the restored replica:\n  restored " + show(r->state()) +
           "\n  again " + show(again.state()));
  } catch (const journal_error& e) {
    fail(std::string("a restored replicator's own journal does not restore: ") + e.what());
  }
}

}  // namespace
}  // namespace converge_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace converge_fuzz;
  if (size == 0) return 0;
  const std::size_t n = storage_catalog::size;
  const bool fix = ((data[0] / n) & 1U) != 0;
  const auto* p = reinterpret_cast<const std::byte*>(data + 1);
  const records_t records = split(std::span<const std::byte>(p, size - 1), fix);
  const outcome strict = read(records, torn_tail::strict);
  const outcome trunc = read(records, torn_tail::truncate);
  check_modes(records, strict, trunc);
  std::uint64_t seed = size;
  for (std::size_t i = 0; i < size; ++i) seed = seed * 0x100000001b3ULL ^ data[i];
  with_type(storage_catalog{}, data[0] % n, [&]<class T>(std::type_identity<T>) {
    if (trunc.journal) restore_and_back<T>(records, *trunc.journal, seed);
  });
  return 0;
}

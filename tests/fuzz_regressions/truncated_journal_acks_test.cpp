// Found by fuzz_storage (fuzz/regressions/fuzz_storage/
// bad-acks-record-leaks-into-truncated-journal): read_journal with
// torn_tail::truncate assigned a bad acks record's acknowledgements before
// checking the record's trailing bytes, so the journal it kept (the records
// before the bad one) carried the dropped record's acks.
#include <converge/replication/journal.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

TEST_CASE("read_journal(truncate): a dropped acks record leaves the acknowledgements before it") {
  namespace r = converge::replication;
  const r::durable_acks before{{7, {3, 1}}};
  std::vector<std::byte> bad = r::acks_record({{9, {100, 2}}});
  // A trailing byte after the acks, with the checksum recomputed: the
  // record is well sealed but its layout is wrong.
  bad.push_back(std::byte{0});
  bad = r::detail::seal_record(std::move(bad));
  const std::vector<std::byte> state{};
  const std::vector<std::vector<std::byte>> records{
      r::snapshot_record(converge::replica_id{1}, 0, before, state), bad};
  CHECK_THROWS_AS((void)r::read_journal(records, r::torn_tail::strict), r::journal_error);
  const auto kept = r::read_journal(records, r::torn_tail::truncate);
  REQUIRE(kept.has_value());
  CHECK(kept->records == 1);
  CHECK(kept->dropped == 1);
  CHECK(kept->acks == before);
}

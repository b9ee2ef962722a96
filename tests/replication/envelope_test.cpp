// The replicator's envelope: written and read as one struct, byte-for-byte
// the format peers already speak, and refused whole when malformed.
#include <converge/replication/envelope.hpp>
#include <converge/testing/entropy.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "support/random.hpp"

namespace {

using converge::replication::envelope;
using converge::replication::message_kind;
using converge::replication::read_envelope;
using converge::replication::write_envelope;

std::vector<std::byte> bytes(std::initializer_list<unsigned> list) {
  std::vector<std::byte> out;
  for (const unsigned b : list) out.push_back(static_cast<std::byte>(b));
  return out;
}

constexpr std::uint64_t max_parts = 4096;

}  // namespace

TEST_CASE("envelope: a delta and an ack are the documented bytes") {
  const auto payload = bytes({0xaa, 0xbb});
  const auto delta = write_envelope(
      {.kind = message_kind::delta, .state_transfer = true, .session = 5, .to = 7, .payload = payload});
  CHECK(delta == bytes({0x15, 5, 7, 0xaa, 0xbb}));

  const auto ack = write_envelope(
      {.kind = message_kind::ack, .multipart = true, .session = 300, .acked_session = 2, .to = 9, .part = 3});
  CHECK(ack == bytes({0x1a, 0xac, 0x02, 2, 9, 3}));

  const auto parted = write_envelope({.kind = message_kind::delta,
                                      .multipart = true,
                                      .session = 1,
                                      .to = 2,
                                      .part = 1,
                                      .parts = 3,
                                      .payload = payload});
  CHECK(parted == bytes({0x19, 1, 2, 1, 3, 0xaa, 0xbb}));
}

TEST_CASE("envelope: what is written reads back the same") {
  const auto payload = bytes({1, 2, 3});
  for (const bool whole : {false, true}) {
    for (const bool multi : {false, true}) {
      envelope d{.kind = message_kind::delta,
                 .state_transfer = whole,
                 .multipart = multi,
                 .session = 1ULL << 40,
                 .to = 12345,
                 .part = multi ? 2U : 0U,
                 .parts = multi ? 5U : 1U,
                 .payload = payload};
      const auto wire = write_envelope(d);
      const auto back = read_envelope(wire, max_parts);
      REQUIRE(back);
      CHECK(back->kind == message_kind::delta);
      CHECK(back->state_transfer == whole);
      CHECK(back->multipart == multi);
      CHECK(back->session == d.session);
      CHECK(back->to == d.to);
      CHECK(back->part == d.part);
      CHECK(back->parts == d.parts);
      CHECK(std::vector<std::byte>(back->payload.begin(), back->payload.end()) == payload);

      envelope a{.kind = message_kind::ack,
                 .state_transfer = whole,
                 .multipart = multi,
                 .session = 77,
                 .acked_session = UINT64_MAX,
                 .to = 0,
                 .part = multi ? 4095U : 0U};
      const auto ack = read_envelope(write_envelope(a), max_parts);
      REQUIRE(ack);
      CHECK(ack->kind == message_kind::ack);
      CHECK(ack->acked_session == UINT64_MAX);
      CHECK(ack->part == a.part);
      CHECK(ack->payload.empty());
    }
  }
}

TEST_CASE("envelope: a resumed session is one bit of byte 0, on deltas and acks") {
  const auto d = read_envelope(bytes({0x31, 1, 1, 0xaa}), max_parts);
  REQUIRE(d);
  CHECK(d->resumed);
  CHECK(d->kind == message_kind::delta);
  CHECK_FALSE(read_envelope(bytes({0x11, 1, 1, 0xaa}), max_parts)->resumed);
  const auto a = write_envelope({.kind = message_kind::ack, .resumed = true, .session = 3, .to = 4});
  CHECK(std::to_integer<int>(a[0]) == 0x32);
  CHECK(read_envelope(a, max_parts)->resumed);
}

TEST_CASE("envelope: malformed headers are refused") {
  CHECK_FALSE(read_envelope({}, max_parts));
  CHECK_FALSE(read_envelope(bytes({0x21, 1, 1, 0xaa}), max_parts));  // no version, only the resumed bit
  CHECK_FALSE(read_envelope(bytes({0x91, 1, 1, 0xaa}), max_parts));  // another version
  CHECK_FALSE(read_envelope(bytes({0x41, 1, 1, 0xaa}), max_parts));  // no version, only the signed bit
  CHECK_FALSE(read_envelope(bytes({0x52, 1, 1, 1}), max_parts));     // an ack cannot carry signatures
  CHECK(read_envelope(bytes({0x51, 1, 1, 0xaa}), max_parts)->signed_entries);
  CHECK_FALSE(read_envelope(bytes({0x10, 1, 1, 0xaa}), max_parts));                        // kind 0
  CHECK(read_envelope(bytes({0x13, 1, 1, 0xaa}), max_parts)->kind == message_kind::tree);  // kind 3
  CHECK_FALSE(read_envelope(bytes({0x13, 1, 1}), max_parts));  // a tree message without its control byte
  CHECK_FALSE(read_envelope(bytes({0x11, 1, 1}), max_parts));  // a delta without payload
  CHECK_FALSE(read_envelope(bytes({0x11, 0x80}), max_parts));  // truncated varint
  CHECK_FALSE(read_envelope(bytes({0x11, 0x81, 0x00, 1, 0xaa}), max_parts));  // overlong varint
  CHECK_FALSE(
      read_envelope(bytes({0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 1, 0xaa}),
                    max_parts));                                           // past 64 bits
  CHECK_FALSE(read_envelope(bytes({0x12, 1, 1, 1, 0}), max_parts));        // an ack with a trailing byte
  CHECK_FALSE(read_envelope(bytes({0x19, 1, 1, 0, 1, 0xaa}), max_parts));  // multipart of one part
  CHECK_FALSE(read_envelope(bytes({0x19, 1, 1, 3, 3, 0xaa}), max_parts));  // part ≥ parts
  CHECK_FALSE(read_envelope(bytes({0x19, 1, 1, 0, 5, 0xaa}), 4));          // parts > max_parts
  CHECK_FALSE(read_envelope(bytes({0x1a, 1, 1, 1, 4}), 4));                // acked part ≥ max_parts
  CHECK(read_envelope(bytes({0x1a, 1, 1, 1, 3}), 4));
}

TEST_CASE("envelope: random bytes never crash, and what is accepted is canonical") {
  const std::uint64_t seed = test::seed();
  CAPTURE(seed);
  converge::testing::seeded_entropy e(seed ^ 0xe2e1);
  int accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    std::vector<std::byte> wire(1 + e.below(12));
    for (auto& b : wire) b = static_cast<std::byte>(e.below(256));
    wire[0] = static_cast<std::byte>(0x10 | (e.below(16)));  // mostly the right version, to get past it
    const auto env = read_envelope(wire, max_parts);
    if (!env) continue;
    ++accepted;
    CHECK(write_envelope(*env) == wire);
  }
  CHECK(accepted > 1000);
}

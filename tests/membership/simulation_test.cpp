// Membership at scale, deterministically: 1,000 members joining through one
// seed, 20 % crashes, pauses, a blackout of every link; and 16 members that
// must all see each other up within 3 s. Seeded (CONVERGE_SEED), the seed
// printed with every run.
#include <converge/membership/failure_detector.hpp>
#include <converge/membership/members.hpp>
#include <converge/membership/views.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "membership/sim.hpp"
#include "support/random.hpp"

namespace {

using namespace test::membership;

struct link_stats {
  std::size_t min = 0, max = 0;
  double mean = 0;
};

link_stats links(const sim& s) {
  link_stats st{~std::size_t{0}, 0, 0};
  std::size_t n = 0, sum = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!s.live(i)) continue;
    const std::size_t a = s.view(i).active().size();
    st.min = std::min(st.min, a);
    st.max = std::max(st.max, a);
    sum += a;
    ++n;
  }
  st.mean = n == 0 ? 0 : static_cast<double>(sum) / static_cast<double>(n);
  return st;
}

bool no_crashed_links(const sim& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!s.live(i)) continue;
    for (const node_id l : s.view(i).active()) {
      if (s.crashed(sim::index(l))) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("simulation: 1,000 members join through one seed, survive 20 % crashes, pauses and a blackout") {
  const std::uint64_t seed = test::seed();
  std::printf("membership simulation seed %llu (CONVERGE_SEED reproduces it)\n",
              static_cast<unsigned long long>(seed));
  CAPTURE(seed);
  sim_options o;
  o.nodes = 1000;
  o.seed = seed;
  o.endpoints = false;
  sim s(o);
  auto rng = test::rng_for("membership 1000");

  // Down verdicts, by (observer, subject): when each live node first saw each
  // crashed node down, and any `down` of a node that never crashed.
  std::map<std::size_t, std::uint64_t> first_down, crash_time;
  std::map<std::size_t, std::set<std::size_t>> seen_down;
  std::size_t false_downs = 0;
  std::set<std::size_t> paused;
  s.on_change = [&](std::uint64_t now, std::size_t observer, const member_change& c) {
    if (c.after != member_status::down) return;
    const std::size_t subject = sim::index(c.node);
    if (!s.crashed(subject)) {
      ++false_downs;
      return;
    }
    first_down.try_emplace(subject, now);
    seen_down[subject].insert(observer);
  };

  // Every node joins through node 0, ten every 100 ms.
  s.start(0, std::nullopt);
  for (std::size_t i = 1; i < o.nodes; ++i) {
    s.run_until(s.now() + (i % 10 == 0 ? 100 : 0));
    s.start(i, 0);
  }
  const auto all_up = s.run_until(
      s.now() + 120000, [&] { return s.members_agree(); }, 500);
  REQUIRE(all_up);
  s.run_until(s.now() + 10000);  // let shuffles and repairs settle the views
  const link_stats joined = links(s);
  std::printf(
      "1000 joined: every member list all up at %.1f s; links per node min %zu mean %.2f max %zu; connected "
      "%d\n",
      static_cast<double>(*all_up) / 1000, joined.min, joined.mean, joined.max, s.connected());
  CHECK(joined.max <= 16);
  CHECK(joined.min >= 1);
  CHECK(s.connected());
  CHECK(false_downs == 0);

  // 20 % crash at once (never the seed).
  std::vector<std::size_t> order;
  for (std::size_t i = 1; i < o.nodes; ++i) order.push_back(i);
  rng.shuffle(order);
  const std::uint64_t crash_at = s.now();
  std::vector<std::size_t> crashed(order.begin(), order.begin() + 200);
  for (const std::size_t i : crashed) {
    s.crash(i);
    crash_time[i] = crash_at;
  }
  // The documented bound: probed within d × T (d ≤ 16 neighbours), suspected a
  // period later, down at most `max` after that, each period scaled by the
  // prober's awareness; a few seconds more for the verdict to spread.
  const detector_options& d = o.detector;
  const std::uint64_t max_suspicion = suspicion_timeout(d, 1000, 0);
  const std::uint64_t bound = 17 * d.probe_interval * 2 + max_suspicion + 10000;
  const auto all_down = s.run_until(
      crash_at + bound,
      [&] {
        return std::all_of(crashed.begin(), crashed.end(), [&](std::size_t c) {
          return seen_down.count(c) != 0 && seen_down[c].size() == 800;
        });
      },
      500);
  std::vector<std::uint64_t> detect;
  for (const auto& [c, t] : first_down) detect.push_back(t - crash_at);
  std::sort(detect.begin(), detect.end());
  REQUIRE(detect.size() == crashed.size());
  std::printf(
      "200 crashed: first down verdict median %.1f s, max %.1f s; every live node agrees at %.1f s "
      "(bound %.1f s: min suspicion %.1f s, max %.1f s); false downs %zu\n",
      static_cast<double>(detect[detect.size() / 2]) / 1000, static_cast<double>(detect.back()) / 1000,
      all_down ? static_cast<double>(*all_down - crash_at) / 1000 : -1.0, static_cast<double>(bound) / 1000,
      static_cast<double>(suspicion_timeout(d, 1000, 10)) / 1000, static_cast<double>(max_suspicion) / 1000,
      false_downs);
  CHECK(all_down);
  CHECK(false_downs == 0);
  const auto repaired = s.run_until(
      s.now() + 30000, [&] { return no_crashed_links(s) && s.connected(); }, 500);
  const link_stats after = links(s);
  std::printf("after repair (%.1f s): links per node min %zu mean %.2f max %zu; connected %d\n",
              repaired ? static_cast<double>(*repaired - crash_at) / 1000 : -1.0, after.min, after.mean,
              after.max, s.connected());
  CHECK(repaired);
  CHECK(after.max <= 16);
  CHECK(s.connected());

  // Five live nodes pause (SIGSTOP) for half the minimum suspicion timeout:
  // none is ever declared down.
  const std::uint64_t pause_for = suspicion_timeout(d, 800, 10) / 2;
  for (std::size_t k = 200; k < 205; ++k) {
    s.pause(order[k], s.now() + pause_for);
    paused.insert(order[k]);
  }
  s.run_until(s.now() + pause_for + 15000);
  std::printf("5 nodes paused %.1f s: false downs %zu\n", static_cast<double>(pause_for) / 1000, false_downs);
  CHECK(false_downs == 0);
  CHECK(s.members_agree());

  // Every node loses every link for 20 s; then the links come back.
  const std::uint64_t blackout_end = s.now() + 20000;
  s.blackout(blackout_end);
  s.run_until(blackout_end);
  const auto merged = s.run_until(
      blackout_end + 60000, [&] { return s.connected() && s.members_agree(); }, 100);
  const link_stats healed = links(s);
  std::printf(
      "blackout of every link for 20 s: one island again and every member list agrees %.1f s after; "
      "links min %zu mean %.2f max %zu; false downs %zu; %llu messages in all\n",
      merged ? static_cast<double>(*merged - blackout_end) / 1000 : -1.0, healed.min, healed.mean, healed.max,
      false_downs, static_cast<unsigned long long>(s.messages()));
  REQUIRE(merged);
  CHECK(*merged - blackout_end <= 10000);
  CHECK(healed.max <= 16);
  CHECK(false_downs == 0);
  // The views refill towards their capacity, symmetric.
  s.run_until(s.now() + 10000);
  const link_stats refilled = links(s);
  std::printf("10 s later: links min %zu mean %.2f max %zu; half links %zu\n", refilled.min, refilled.mean,
              refilled.max, s.half_links());
  CHECK(refilled.min >= 3);
  CHECK(refilled.max <= 16);
  CHECK(s.half_links() == 0);
  CHECK(s.connected());
}

TEST_CASE("simulation: 16 members joining through one seed all see 16 up within 3 s") {
  const std::uint64_t seed = test::seed();
  CAPTURE(seed);
  sim_options o;
  o.nodes = 16;
  o.seed = seed;
  sim s(o);
  std::size_t false_downs = 0;
  std::map<std::size_t, std::uint64_t> down_at;
  std::set<std::size_t> crashed;
  s.on_change = [&](std::uint64_t now, std::size_t, const member_change& c) {
    if (c.after != member_status::down) return;
    if (!s.crashed(sim::index(c.node))) {
      ++false_downs;
    } else {
      down_at[sim::index(c.node)] = std::max(down_at[sim::index(c.node)], now);
    }
  };
  s.start(0, std::nullopt);
  for (std::size_t i = 1; i < 16; ++i) s.start(i, 0);
  const auto up = s.run_until(
      10000, [&] { return s.members_agree(); }, 10);
  REQUIRE(up);
  std::printf("16 members (seed %llu): all 16 up in every list at %.2f s\n",
              static_cast<unsigned long long>(seed), static_cast<double>(*up) / 1000);
  CHECK(*up <= 3000);
  s.run_until(20000);
  CHECK(s.connected());

  // kill -9 of one member: down everywhere within the suspicion timeout + 2 s
  // after its first probe failed.
  const detector_options& d = o.detector;
  s.crash(5);
  const std::uint64_t crash_at = s.now();
  const std::uint64_t bound =
      16 * d.probe_interval + 2 * d.probe_interval + suspicion_timeout(d, 16, 0) + 2000;
  const auto down = s.run_until(
      crash_at + bound, [&] { return s.members_agree(); }, 10);
  std::printf(
      "16 members: a crashed member down everywhere %.2f s after the crash (bound %.1f s, min suspicion "
      "%.1f s)\n",
      down ? static_cast<double>(*down - crash_at) / 1000 : -1.0, static_cast<double>(bound) / 1000,
      static_cast<double>(suspicion_timeout(d, 16, 10)) / 1000);
  CHECK(down);

  // SIGSTOP for less than the minimum suspicion timeout: never down.
  s.pause(9, s.now() + suspicion_timeout(d, 15, 10) - 1500);
  s.run_until(s.now() + 40000);
  CHECK(false_downs == 0);
  CHECK(s.members_agree());

  // Every link silently lost for 3 minutes (no transport error): the failure
  // detectors declare their neighbours down and the views drop them, until
  // no node has a link. When the links return the islands re-merge (through
  // the passive views and the seed), everyone refutes, and every list shows
  // the 15 live members up again within 10 s.
  const std::uint64_t outage_end = s.now() + 180000;
  s.blackout(outage_end, false);
  s.run_until(outage_end);
  std::size_t alone = 0;
  for (std::size_t i = 0; i < 16; ++i) alone += s.live(i) && s.view(i).active().empty() ? 1 : 0;
  CHECK(alone == 15);
  CHECK(false_downs > 0);  // an outage this long does declare nodes down: that is what refutation undoes
  const auto merged = s.run_until(
      outage_end + 30000, [&] { return s.connected() && s.members_agree(); }, 10);
  std::printf(
      "16 members: after a 180 s loss of every link (%zu down verdicts meanwhile), one island with all "
      "15 up again %.2f s after the links returned\n",
      false_downs, merged ? static_cast<double>(*merged - outage_end) / 1000 : -1.0);
  REQUIRE(merged);
  CHECK(*merged - outage_end <= 10000);
}

#include "commands.hpp"

#include "converge/membership/retirement.hpp"
#include "converge/replication/consistency.hpp"
#include "converge/wire/json.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/number.hpp"

namespace converge_node {
namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Splits off the first word of `s`; `s` keeps the trimmed rest.
std::string_view next_word(std::string_view& s) {
  s = trim(s);
  const auto end = s.find_first_of(" \t");
  const std::string_view word = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : trim(s.substr(end));
  return word;
}

struct command_error {
  std::string what;
};

std::uint64_t number_arg(std::string_view& rest, const char* name,
                         std::optional<std::uint64_t> fallback = {}) {
  const std::string_view word = next_word(rest);
  if (word.empty()) {
    if (fallback) return *fallback;
    throw command_error{std::string("missing ") + name};
  }
  const auto n = converge_cli::parse_number(word);
  if (!n)
    throw command_error{std::string(name) + " must be a non-negative integer below 2^64, not '" +
                        std::string(word) + "'"};
  return *n;
}

void no_more(std::string_view rest) {
  if (!rest.empty())
    throw command_error{"unexpected '" + std::string(rest) +
                        "' (an optional last word names the consistency level: local, majority or all)"};
}

// Splits off a last word naming a consistency level, when at least
// `min_words` words stay before it (`add majority` adds "majority").
std::optional<converge::consistency> take_level(std::string_view& rest, std::size_t min_words) {
  rest = trim(rest);
  const auto space = rest.find_last_of(" \t");
  const std::string_view last = space == std::string_view::npos ? rest : rest.substr(space + 1);
  const auto level = converge::consistency::parse(last);
  if (!level) return std::nullopt;
  std::string_view before =
      space == std::string_view::npos ? std::string_view{} : trim(rest.substr(0, space));
  std::size_t words = 0;
  for (std::string_view b = before; !next_word(b).empty();) ++words;
  if (words < min_words) return std::nullopt;
  rest = before;
  return level;
}

std::string timed_out(const converge::operation_outcome& o, const char* what) {
  return "error: timed out: " + std::to_string(o.acknowledged) + " of " + std::to_string(o.required) +
         " members acknowledged" + what;
}

std::string text_arg(std::string_view rest, const char* name) {
  if (rest.empty()) throw command_error{std::string("missing ") + name};
  return std::string(rest);
}

}  // namespace

std::string stats_json(const node& n) {
  // {"id", "replica", every replicator counter, "quiescent", "transport": {...}}
  const std::string replication = converge::metrics_json(n.replication_stats());
  std::string out =
      "{\"id\":" + std::to_string(n.id()) + ",\"replica\":" + std::to_string(n.replica().value());
  out += ',';
  out.append(replication, 1, replication.size() - 2);  // its members, without the braces
  out += ",\"quiescent\":";
  out += n.quiescent() ? "true" : "false";
  out += ",\"transport\":" + converge::metrics_json(n.transport_stats());
  const auto retirement = n.retirement_stats();
  out += ",\"metadata_replica_ids\":" + std::to_string(retirement.metadata_replica_ids) +
         ",\"retired_replicas\":" + std::to_string(retirement.retired_replicas);
  if (n.has_membership()) {
    const auto [d, awareness] = n.detector_stats();
    out +=
        ",\"membership\":{\"awareness\":" + std::to_string(awareness) +
        ",\"probes\":" + std::to_string(d.probes) + ",\"probes_failed\":" + std::to_string(d.probes_failed) +
        ",\"indirect_sent\":" + std::to_string(d.indirect_sent) +
        ",\"suspicions\":" + std::to_string(d.suspicions) +
        ",\"confirmed_down\":" + std::to_string(d.confirmed_down) +
        ",\"refutations\":" + std::to_string(d.refutations) + ",\"stalls\":" + std::to_string(d.stalls) + "}";
  }
  out += "}";
  return out;
}

std::string peers_json(const node& n) {
  std::string out = "[";
  bool first = true;
  for (const auto& p : n.peers()) {
    if (!first) out += ',';
    first = false;
    out += "{\"endpoint\":";
    if (p.endpoint.empty()) {
      out += "null";
    } else {
      converge::wire::json_detail::put_string(out, p.endpoint);
    }
    out += ",\"id\":";
    out += p.id ? std::to_string(*p.id) : std::string("null");
    out += ",\"reachable\":";
    out += p.reachable ? "true" : "false";
    out += ",\"replica\":";
    out += p.replica ? std::to_string(p.replica->value()) : std::string("null");
    out += '}';
  }
  out += ']';
  return out;
}

std::string members_json(const node& n) {
  std::string out = "[";
  bool first = true;
  for (const auto& m : n.members()) {
    if (!first) out += ',';
    first = false;
    out += "{\"id\":" + std::to_string(m.record.node) +
           ",\"replica\":" + std::to_string(m.record.replica.value());
    out += ",\"endpoints\":[";
    for (std::size_t i = 0; i < m.record.endpoints.size(); ++i) {
      if (i > 0) out += ',';
      converge::wire::json_detail::put_string(out, m.record.endpoints[i]);
    }
    out += "],\"status\":\"";
    out += converge::membership::to_string(m.record.status);
    out += "\",\"incarnation\":" + std::to_string(m.record.incarnation);
    out += ",\"active\":";
    out += m.active ? "true" : "false";
    out += ",\"self\":";
    out += m.self ? "true" : "false";
    if (!m.record.curve_public_key.empty()) {
      out += ",\"curve_public_key\":";
      converge::wire::json_detail::put_string(out, m.record.curve_public_key);
    }
    out += '}';
  }
  out += ']';
  return out;
}

std::uint64_t start_leave(node& n) {
  n.leave();
  // The survivor: the up member (not this one) with the smallest replica id,
  // the one retirement folds into too.
  std::optional<converge::replica_id> survivor;
  for (const auto& m : n.members()) {
    if (m.self || m.record.status != converge::membership::member_status::up) continue;
    if (!survivor || m.record.replica < *survivor) survivor = m.record.replica;
  }
  if (!survivor) return 0;
  const converge::replica_id me = n.replica();
  n.mutate_including_retired([&](demo_state& s) {
    return converge::update(s, &demo_state::stock, [&](converge::bounded_counter& b) {
      return converge::membership::hand_over_rights(b, me, *survivor);
    });
  });
  return survivor->value();
}

/// The answer to a mutation that succeeded: `ok`, or `ok (no change)` when its
/// delta is bottom (nothing new to record or gossip: `rm` of an element this
/// node never saw, `inc 0`, ...), so a script can tell the two apart.
std::string answer_for(const demo_state& delta) {
  return converge::is_bottom(delta) ? "ok (no change)" : "ok";
}

/// Applies a mutation at `level`: `local` (or none) as always; above it,
/// waits until that many members hold it durably, or answers the timeout.
template <class F>
std::string write_at(node& n, std::optional<converge::consistency> level, const command_settings& st,
                     F&& fn) {
  if (!level || level->is_local()) return answer_for(n.mutate(fn));
  demo_state delta;
  const converge::operation_outcome o = n.run_write(
      [&](demo_state& s) {
        delta = fn(s);
        return delta;
      },
      *level, st.timeout);
  if (o.status != converge::operation_status::done)
    return timed_out(o, " (the write stays applied here and still reaches every member)");
  return answer_for(delta);
}

/// Runs a stock mutation that only succeeds within this node's rights
/// (`spend` returns nullopt otherwise) and answers `ok` or why not. Rights
/// count the transfers of retired replicas (see node_retirement.hpp).
template <class Spend>
std::string spend_rights(node& n, std::uint64_t need, Spend&& spend,
                         std::optional<converge::consistency> level = {}, const command_settings& st = {}) {
  std::uint64_t have = 0;
  bool done = false;
  const auto mutator = [&](demo_state& s) {
    return converge::update(s, &demo_state::stock, [&](converge::bounded_counter& b) {
      have = b.rights(n.replica());
      auto d = spend(b);
      done = d.has_value();
      return d ? *d : converge::bounded_counter{};
    });
  };
  if (level && !level->is_local()) {
    // Refused at once when short: a write of nothing would only wait.
    if (n.read([&](const demo_state& s) { return s.stock.rights(n.replica()); }) >= need) {
      const std::string reply = write_at(n, level, st, mutator);
      if (done || reply.starts_with("error: timed out")) return reply;
    }
    have = n.read([&](const demo_state& s) { return s.stock.rights(n.replica()); });
    done = false;
  }
  const demo_state delta = level && !level->is_local() ? demo_state{} : n.mutate_including_retired(mutator);
  if (!done) {
    return "error: not enough local stock rights (have " + std::to_string(have) + ", need " +
           std::to_string(need) + ")";
  }
  return answer_for(delta);
}

std::string execute(node& n, std::string_view line, bool& quit) {
  bool leave = false;
  std::string reply = execute(n, line, quit, leave);
  if (leave) quit = true;
  return reply;
}

std::string execute(node& n, std::string_view line, bool& quit, bool& leave) {
  return execute(n, line, quit, leave, command_settings{});
}

std::string execute(node& n, std::string_view line, bool& quit, bool& leave, const command_settings& st) {
  using converge::bounded_counter;
  std::string_view rest = line;
  const std::string_view cmd = next_word(rest);
  const converge::replica_id me = n.replica();
  try {
    // The commands that take a consistency level as their last word.
    std::optional<converge::consistency> level;
    if (cmd == "add" || cmd == "rm") {
      level = take_level(rest, 1);
    } else if (cmd == "put") {
      level = take_level(rest, 2);
    } else if (cmd == "inc" || cmd == "dec" || cmd == "del" || cmd == "stock-add" || cmd == "sell" ||
               cmd == "grant" || cmd == "state") {
      level = take_level(rest, 0);
    }
    if (cmd == "inc" || cmd == "dec") {
      const std::uint64_t k = number_arg(rest, "N", 1);
      no_more(rest);
      return write_at(n, level, st, [&](demo_state& s) {
        return converge::update(s, &demo_state::counter, [&](auto& c) {
          return cmd == "inc" ? c.increment(me, k) : c.decrement(me, k);
        });
      });
    }
    if (cmd == "add") {
      const std::string elem = text_arg(rest, "ELEM");
      return write_at(n, level, st, [&](demo_state& s) {
        return converge::update(s, &demo_state::set, [&](auto& x) { return x.insert(me, elem); });
      });
    }
    if (cmd == "rm") {
      const std::string elem = text_arg(rest, "ELEM");
      return write_at(n, level, st, [&](demo_state& s) {
        return converge::update(s, &demo_state::set, [&](auto& x) { return x.erase(elem); });
      });
    }
    if (cmd == "put") {
      const std::string key(next_word(rest));
      if (key.empty()) throw command_error{"missing KEY"};
      const std::string value = text_arg(rest, "VALUE");
      return write_at(n, level, st, [&](demo_state& s) {
        return converge::update(s, &demo_state::map, [&](auto& m) {
          return m.update(key, [&](auto& reg) { return reg.assign(me, value); });
        });
      });
    }
    if (cmd == "del") {
      const std::string key(next_word(rest));
      if (key.empty()) throw command_error{"missing KEY"};
      no_more(rest);
      return write_at(n, level, st, [&](demo_state& s) {
        return converge::update(s, &demo_state::map, [&](auto& m) { return m.erase(key); });
      });
    }
    if (cmd == "stock-add") {
      const std::uint64_t k = number_arg(rest, "N");
      no_more(rest);
      return write_at(n, level, st, [&](demo_state& s) {
        return converge::update(s, &demo_state::stock, [&](auto& b) { return b.increment(me, k); });
      });
    }
    if (cmd == "sell") {
      const std::uint64_t k = number_arg(rest, "N");
      no_more(rest);
      if (!level || level->is_local())
        return spend_rights(n, k, [&](bounded_counter& b) { return b.decrement(me, k); });
      // Short of local rights, the members holding the most are asked for theirs.
      const converge::operation_outcome o = n.run_decrement(k, *level, st.timeout);
      if (o.status == converge::operation_status::no_rights)
        return "error: not enough stock rights (have " + std::to_string(o.acknowledged) + ", need " +
               std::to_string(o.required) + "): no member gave enough within " +
               std::to_string(st.timeout.count()) + " ms; nothing sold";
      if (o.status == converge::operation_status::timed_out)
        return timed_out(o, " (the sale stays applied here and still reaches every member)");
      return "ok";
    }
    if (cmd == "grant") {
      const std::uint64_t target = number_arg(rest, "REPLICA");
      const std::uint64_t k = number_arg(rest, "N");
      no_more(rest);
      if (target == n.id()) return "error: cannot grant stock rights to this node itself";
      std::optional<converge::replica_id> to;
      if (n.has_membership()) {
        // Rights given to a member that is not up could never be sold: a
        // down member's incarnation is over, a leaving one is handing its
        // own rights away.
        const auto m = n.member(target);
        if (!m) return "error: node " + std::to_string(target) + " is not a member (not known here yet)";
        if (m->status != converge::membership::member_status::up)
          return "error: node " + std::to_string(target) + " is " +
                 converge::membership::to_string(m->status) +
                 ", not up: rights granted to it could not be used";
        to = m->replica;
      } else {
        to = n.peer_replica(target);
      }
      if (!to) return "error: unknown replica " + std::to_string(target) + " (no message from it yet)";
      return spend_rights(
          n, k, [&](bounded_counter& b) { return b.transfer(me, *to, k); }, level, st);
    }
    if (cmd == "state") {
      no_more(rest);
      if (level && !level->is_local()) {
        const converge::operation_outcome o = n.run_read(*level, st.timeout);
        if (o.status != converge::operation_status::done) return timed_out(o, "");
      }
      return n.read_including_retired([](const demo_state& s) { return converge::to_json(s); });
    }
    if (cmd == "rights") {
      no_more(rest);
      return std::to_string(
          n.read_including_retired([&](const demo_state& s) { return s.stock.rights(me); }));
    }
    if (cmd == "stats") {
      no_more(rest);
      return stats_json(n);
    }
    if (cmd == "peers") {
      no_more(rest);
      return peers_json(n);
    }
    if (cmd == "members") {
      no_more(rest);
      if (!n.has_membership()) return "error: this node runs no membership";
      return members_json(n);
    }
    if (cmd == "leave") {
      no_more(rest);
      if (!n.has_membership()) return "error: this node runs no membership";
      leave = true;
      return "ok";
    }
    if (cmd == "isolate") {
      // Fault injection for tests: every link lost for MS milliseconds;
      // `silent`: not reported to the views (only the detector finds out).
      const std::uint64_t ms = number_arg(rest, "MS");
      const std::string_view how = next_word(rest);
      no_more(rest);
      if (!how.empty() && how != "silent")
        throw command_error{"expected 'silent' or nothing, not '" + std::string(how) + "'"};
      if (ms > 3600000) return "error: MS must be at most 3600000 (one hour)";
      n.isolate(std::chrono::milliseconds(static_cast<std::int64_t>(ms)), how.empty());
      return "ok";
    }
    if (cmd == "help") {
      return "commands: inc [N] [LEVEL] | dec [N] [LEVEL] | add ELEM [LEVEL] | rm ELEM [LEVEL] | "
             "put KEY VALUE [LEVEL] | del KEY [LEVEL] | stock-add N [LEVEL] | sell N [LEVEL] | "
             "grant REPLICA N [LEVEL] | rights | state [LEVEL] | stats | peers | members | leave | isolate "
             "MS "
             "[silent] | "
             "help | "
             "quit; a mutation answers "
             "'ok', 'ok (no change)' when it changed nothing, or 'error: ...' (and changes nothing); "
             "inc, dec, add, rm, put, del, stock-add, sell, grant and state take an optional last word "
             "LEVEL: local (the default), majority or all (e.g. 'add X majority', 'sell 5 majority'): "
             "it answers once that many up members hold the write (or answered the read), else "
             "'error: timed out: A of R members acknowledged' after --timeout-ms (a write stays "
             "applied and still converges); 'sell N LEVEL' short of local rights asks other members "
             "for theirs";
    }
    if (cmd == "quit") {
      no_more(rest);
      quit = true;
      return "ok";
    }
    if (cmd.empty()) return "error: empty command (try 'help')";
    return "error: unknown command '" + std::string(cmd) + "' (try 'help')";
  } catch (const command_error& e) {
    return "error: " + e.what;
  } catch (const std::overflow_error& e) {
    // The types refuse arithmetic that would wrap or saturate, before changing anything.
    return std::string("error: would overflow, nothing changed (") + e.what() + ")";
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

}  // namespace converge_node

// converge-node: a gossip node holding a demo state, driven by commands on
// stdin (one per line, one answer line each). See `converge-node --help`.

#include "converge/signing/ed25519.hpp"
#include "converge/storage/lmdb_journal.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/zmq_node.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <poll.h>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "commands.hpp"
#include "demo_state.hpp"
#include "line_reader.hpp"
#include "options.hpp"

namespace {

int signal_pipe[2] = {-1, -1};
char** program_argv = nullptr;  // for the restart of a retired replica

// What `run` returns when this life's replica was retired: main restarts
// the program as a new replica.
constexpr int restart_as_new_replica = -1;

extern "C" void on_signal(int) {
  const char c = 's';
  [[maybe_unused]] const auto n = ::write(signal_pipe[1], &c, 1);
}

void install_signals() {
  if (::pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

// Writes one answer line and flushes; false when stdout is gone.
bool answer(const std::string& line) {
  if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) return false;
  if (std::fputc('\n', stdout) == EOF) return false;
  return std::fflush(stdout) == 0;
}

void report(std::string what, std::string_view hint = {}) {
  converge_cli::print_error("converge-node", std::move(what), hint);
}

// The longest command line, newline not counted; longer ones are refused.
constexpr std::size_t max_line = 64 * 1024;

// Runs the node's event loop, and nothing else, until `done()`, `until`, or
// a signal.
template <class Done>
void pump(converge_node::node& node, std::chrono::steady_clock::time_point until, Done done) {
  while (!done()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    std::array<pollfd, 2> fds{};
    fds[0] = {node.fd(), POLLIN, 0};
    fds[1] = {signal_pipe[0], POLLIN, 0};
    const auto wait = std::min({node.next_timeout(), left, std::chrono::milliseconds(1000)});
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(wait.count(), 1)));
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    node.process();
    if (n > 0 && (fds[1].revents & POLLIN)) return;
  }
}

// Before exiting on quit or end of input: lets the last writes reach the
// peers. A delta waits for its peer's gossip slot and then for the ack, so
// this runs the event loop until every peer acknowledged everything, no
// peer is reachable, or a few gossip intervals (1 to 10 s) have passed.
// The replicator learns of a peer only once it hears from it, so until the
// node has had time to hear its peers (three heartbeats since it started)
// a peer not heard yet keeps it waiting: input that ends at once, as
// `printf 'add z' | converge-node --peer ...` does, must still be gossiped.
void drain(converge_node::node& node, const converge_node::options& o,
           std::chrono::steady_clock::time_point started) {
  const auto limit =
      std::clamp<std::chrono::milliseconds>(5 * o.gossip, std::chrono::seconds(1), std::chrono::seconds(10));
  const auto first_contact = started + std::min<std::chrono::milliseconds>(3 * o.heartbeat, limit);
  auto settled = [&] {
    const auto peers = node.peers();
    const auto reachable = [](const auto& p) { return p.reachable; };
    if (std::chrono::steady_clock::now() < first_contact &&
        !std::all_of(peers.begin(), peers.end(), reachable))
      return false;
    return node.quiescent() || std::none_of(peers.begin(), peers.end(), reachable);
  };
  if (settled()) return;
  if (!o.quiet)
    std::cerr << "converge-node " << o.id << ": waiting up to " << limit.count()
              << " ms for peers to acknowledge\n";
  pump(node, std::chrono::steady_clock::now() + limit, settled);
}

// Runs --seed-command (sh -c, stdin /dev/null, stderr inherited) and returns
// the endpoints it printed, one a line (blank lines and # comments skipped;
// a bad line is reported and skipped). Killed after 2 s: the node's loop
// waits for it. Throws when it cannot run or fails.
std::vector<std::string> run_seed_command(const std::string& command, std::uint64_t id) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::system_error(errno, std::generic_category(), "fork");
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  bool timed_out = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())
            .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
    std::array<char, 4096> buf{};
    const ssize_t got = ::read(out[0], buf.data(), buf.size());
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) break;
    text.append(buf.data(), static_cast<std::size_t>(got));
    if (text.size() > 64 * 1024) break;  // enough seeds
  }
  ::close(out[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw std::runtime_error("--seed-command ran for more than 2 s (killed)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("--seed-command failed (status " + std::to_string(WEXITSTATUS(status)) + ")");
  std::vector<std::string> seeds;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    if (const auto problem = converge_node::endpoint_problem(line, converge_node::endpoint_use::peer);
        !problem.empty()) {
      std::cerr << "converge-node " << id << ": --seed-command printed " << problem << " (skipped)\n";
      continue;
    }
    seeds.push_back(std::move(line));
  }
  return seeds;
}

// Membership timeouts from the heartbeat: T = one heartbeat (500 ms by
// default, half memberlist's LAN profile: the fixed slack of "down everywhere
// within the suspicion timeout + 2 s" must cover probing and dissemination,
// which scale with T); see --help.
converge::membership_options membership_for(const converge_node::options& o) {
  converge::membership_options m;
  m.seeds = o.join;
  m.advertise = o.advertise;
  if (!o.seed_command.empty()) {
    m.seed_source = [command = o.seed_command, id = o.id] { return run_seed_command(command, id); };
  }
  const auto t = static_cast<std::uint64_t>(std::max<std::int64_t>(50, o.heartbeat.count()));
  m.detector.probe_interval = t;
  // A helper of an indirect probe nacks after its own probe timeout: with
  // the timeout at 2T/5, its nack (sent 4T/5 after the probe) arrives within
  // the period, and a probe of a crashed member does not also count the
  // missing nacks against this node (Lifeguard awareness, which would slow
  // its probes, and the confirmations, down).
  m.detector.probe_timeout = 2 * t / 5;
  m.detector.gossip_interval = std::max<std::uint64_t>(10, t / 5);
  m.detector.push_pull_interval = 10 * t;
  m.detector.reconnect_interval = 5 * t;
  m.detector.stall_threshold = std::max<std::uint64_t>(1000, t);
  m.views.neighbor_timeout = t;
  m.views.repair_interval = std::max<std::uint64_t>(10, t / 4);
  m.views.join_retry = 2 * t;
  m.views.shuffle_interval = 5 * t;
  m.views.merge_interval = 2 * t;
  m.join_retry = 2 * t;
  m.held_for = 3 * t;
  m.transient_idle = 10 * t;
  m.retire_down = static_cast<std::uint64_t>(o.retire_down.count());
  m.retire_leave_grace = 2 * t;
  return m;
}

// A graceful leave: `leaving` (and the stock rights handed over), a few
// gossip intervals for it to spread, `removed`, a few more; then the caller
// flushes and exits.
void leave_cluster(converge_node::node& node, const converge_node::options& o) {
  const std::uint64_t survivor = converge_node::start_leave(node);
  if (!o.quiet) {
    std::cerr << "converge-node " << o.id << ": leaving";
    if (survivor != 0) std::cerr << ", stock rights handed to replica " << survivor;
    std::cerr << '\n';
  }
  const auto spread =
      std::chrono::milliseconds(std::max<std::uint64_t>(300, 5 * node.membership_gossip_interval()));
  node.process();
  pump(node, std::chrono::steady_clock::now() + spread, [] { return false; });
  node.depart();
  node.process();
  pump(node, std::chrono::steady_clock::now() + spread, [] { return false; });
}

// The record of retired replicas a durable node keeps beside its journal
// (DIR/retired-record): the final contributions its journaled state no
// longer holds once stripped (see node_retirement.hpp).
std::filesystem::path retired_record_path(const converge_node::options& o) {
  return std::filesystem::path(o.data_dir) / "retired-record";
}

std::vector<std::byte> read_retired_record(const std::filesystem::path& path) {
  std::vector<std::byte> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    throw std::system_error(errno, std::generic_category(), "cannot read " + path.string());
  }
  std::array<char, 64 * 1024> buf{};
  for (;;) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int e = errno;
      ::close(fd);
      throw std::system_error(e, std::generic_category(), "cannot read " + path.string());
    }
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) out.push_back(static_cast<std::byte>(buf[static_cast<std::size_t>(i)]));
  }
  ::close(fd);
  return out;
}

// Replaces the file whole and durably: a crash leaves the old one or the new one.
void write_retired_record(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot write " + tmp.string());
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw std::system_error(e, std::generic_category(), "cannot write " + tmp.string());
    }
    at += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "cannot sync " + tmp.string());
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot rename " + tmp.string());
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

// Opens --data-dir and the node over it: the journal, what it recovered, and
// the node restored from that. Throws `journal_error` when the directory
// cannot be read, and `std::invalid_argument` when it is another node's.
std::unique_ptr<converge_node::node> open_durable(const converge_node::options& o, converge::node_options& no,
                                                  std::unique_ptr<converge::storage::lmdb_journal>& journal) {
  journal = std::make_unique<converge::storage::lmdb_journal>(o.data_dir);
  no.recovered = journal->recover();
  no.replication.journal = journal.get();
  if (no.recovered && no.recovered->self.value() >> 24 != o.id) {
    throw std::invalid_argument(o.data_dir + " holds the data of node " +
                                std::to_string(no.recovered->self.value() >> 24) + ", not of --id " +
                                std::to_string(o.id));
  }
  return std::make_unique<converge_node::node>(no);
}

// The node, in memory or over --data-dir. With --fresh, a directory that
// cannot be read is set aside (DIR.damaged-TIME; never one another process
// has open) and the node starts anew: a new replica, since its old identity
// may have issued dots it can no longer recall.
std::unique_ptr<converge_node::node> open_node(const converge_node::options& o, converge::node_options& no,
                                               std::unique_ptr<converge::storage::lmdb_journal>& journal) {
  if (o.data_dir.empty()) return std::make_unique<converge_node::node>(no);
  try {
    return open_durable(o, no, journal);
  } catch (const converge::replication::journal_error& e) {
    journal.reset();
    no.recovered.reset();
    no.replication.journal = nullptr;
    if (!o.fresh) {
      throw converge::replication::journal_error(
          std::string(e.what()) +
          "; refusing to start (--fresh sets the directory aside and starts a new replica)");
    }
    const std::filesystem::path aside = converge::storage::set_aside(o.data_dir);
    std::cerr << "converge-node " << o.id << ": " << e.what() << "; set aside as " << aside.string()
              << ", starting a new replica\n";
    return open_durable(o, no, journal);
  }
}

int run(const converge_node::options& o) {
  converge::node_options no;
  no.id = o.id;
  no.bind = o.bind;
  no.peers = o.peers;
  no.gossip_interval = o.gossip;
  no.heartbeat_interval = o.heartbeat;
  no.replication.max_message_bytes = o.max_message_bytes;
  no.membership = membership_for(o);
  if (!o.data_dir.empty()) {
    const std::filesystem::path record = retired_record_path(o);
    no.membership->retired_record = read_retired_record(record);
    no.membership->save_retired = [record](std::span<const std::byte> b) { write_retired_record(record, b); };
  }
  if (o.quiet) {
    no.log = nullptr;
  } else {
    no.log = [](std::string_view line) { std::cerr << line << '\n'; };
  }
  if (!o.curve_key.empty()) {
    converge::curve_options c;
    c.own = converge::load_curve_key_pair(o.curve_key);
    c.allow = converge::load_curve_allow_list(o.curve_allow);
    no.curve = std::move(c);
  }
  // Origin signing: this node's key signs its entries; the allow-list's
  // sign= keys verify its peers' (and its own key, its own relayed back).
  std::optional<converge::signing::ed25519_signer> signer;
  if (!o.signing_key.empty()) {
    const auto own = converge::signing::load_signing_key_pair(o.signing_key);
    std::map<std::uint64_t, converge::signing::public_key> keys;
    for (const auto& p : no.curve->allow) {
      if (p.signing_key.empty()) continue;
      if (!keys.emplace(p.id, *converge::signing::parse_public_key(p.signing_key)).second)
        throw converge::curve_error(o.curve_allow + ": two sign= keys for node " + std::to_string(p.id));
    }
    if (const auto it = keys.find(o.id); it != keys.end() && it->second != own.public_part)
      throw converge::curve_error(o.curve_allow + ": the sign= key of node " + std::to_string(o.id) +
                                  " is not the public key in " + o.signing_key);
    keys[o.id] = own.public_part;
    signer.emplace(own, std::move(keys));
    no.replication.signer = &*signer;
  }
  std::unique_ptr<converge::storage::lmdb_journal> journal;
  const std::unique_ptr<converge_node::node> holder = open_node(o, no, journal);
  converge_node::node& node = *holder;
  // Peers short of stock rights may ask this node for its own (sell N majority).
  node.set_rights_counter(&converge_node::demo_state::stock);
  const auto started = std::chrono::steady_clock::now();
  install_signals();
  if (!o.quiet) {
    std::cerr << "converge-node " << o.id << ": replica " << node.replica().value();
    if (journal) std::cerr << (no.recovered ? ", restarted from " : ", new in ") << o.data_dir;
    std::cerr << ", bound";
    for (const auto& e : node.endpoints()) std::cerr << ' ' << e;
    std::cerr << ", " << o.peers.size() << " peer endpoint(s)";
    if (!o.join.empty()) std::cerr << ", joining through " << o.join.size() << " seed(s)";
    std::cerr << (no.curve ? ", CURVE on" : "") << (signer ? ", signing on" : "") << '\n';
  }

  converge_node::line_reader lines(max_line);
  // One answer line per command line; false when the node should stop
  // (quit, or nobody reads the answers any more).
  auto on_line = [&](converge_node::line_reader::kind k, std::string_view line) {
    if (k == converge_node::line_reader::kind::too_long) {
      return answer("error: line longer than " + std::to_string(max_line) + " bytes");
    }
    bool quit = false;
    bool leave = false;
    const std::uint64_t before = node.journal_position();
    std::string reply = converge_node::execute(node, line, quit, leave, {.timeout = o.timeout});
    // --sync write: a write is answered once it is on disk.
    if (journal && o.sync == converge_node::options::sync_mode::write && node.journal_position() != before &&
        !node.wait_durable(node.journal_position(), std::chrono::seconds(10))) {
      reply = "error: applied here but not yet on disk (" + node.sync_error() +
              "); it is written, and sent, once the disk accepts it";
    }
    const bool answered = answer(reply);
    node.process();  // send the delta now rather than at the next wakeup
    if (leave) {
      leave_cluster(node, o);
      return false;
    }
    return answered && !quit;
  };

  // Before exiting: every write on disk (with --sync periodic too).
  auto flush_to_disk = [&] {
    if (journal && !node.wait_durable(node.journal_position(), std::chrono::seconds(10)))
      std::cerr << "converge-node " << o.id << ": exiting with writes not on disk: " << node.sync_error()
                << '\n';
  };

  bool stdin_open = !o.daemon;
  std::array<char, 64 * 1024> chunk{};
  for (;;) {
    std::array<pollfd, 3> fds{};
    fds[0] = {node.fd(), POLLIN, 0};
    fds[1] = {signal_pipe[0], POLLIN, 0};
    fds[2] = {stdin_open ? STDIN_FILENO : -1, POLLIN, 0};
    const auto timeout = node.next_timeout();
    const int wait = static_cast<int>(std::min<std::int64_t>(timeout.count(), 1000));
    const int n = ::poll(fds.data(), fds.size(), wait);
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    node.process();
    if (node.replica_retired()) {
      // The cluster retired this replica (it was down past --retire-down-ms,
      // or removed): its dots are ignored everywhere, and writing on as it
      // could only be lost. Nothing more is sent; a new replica takes over.
      std::cerr << "converge-node " << o.id << ": replica " << node.replica().value()
                << " was retired by the cluster; restarting as a new replica"
                << (o.data_dir.empty() ? "" : ", its data directory set aside") << '\n';
      return restart_as_new_replica;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
      if (!o.quiet) std::cerr << "converge-node " << o.id << ": signal, exiting\n";
      flush_to_disk();
      return 0;
    }
    if (n > 0 && stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t got = ::read(STDIN_FILENO, chunk.data(), chunk.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got > 0 && lines.feed(std::string_view(chunk.data(), static_cast<std::size_t>(got)), on_line)) {
        continue;
      }
      if (got <= 0) lines.finish(on_line);  // end of input: a last line without a newline still runs
      // Quit, end of input, or nobody reads the answers: every write on
      // disk (--sync periodic too), then gossiped.
      flush_to_disk();
      drain(node, o, started);
      return 0;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  program_argv = argv;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  converge_node::options o;
  try {
    o = converge_node::parse_options(args);
  } catch (const converge_node::usage_error& e) {
    report(e.what(), " (see --help)");
    return 2;
  }
  if (o.help) {
    std::cout << o.help_text;
    return 0;
  }
  if (o.signing_keygen) {
    try {
      std::cout << converge::signing::key_pair_text(converge::signing::generate_signing_key_pair());
      return 0;
    } catch (const std::exception& e) {
      report(e.what());
      return 1;
    }
  }
  if (o.keygen) {
    try {
      const auto kp = converge::generate_curve_key_pair();
      std::cout << kp.public_key << '\n' << kp.secret_key << '\n';
      return 0;
    } catch (const std::exception& e) {
      report(e.what());
      return 1;
    }
  }
  try {
    const int status = run(o);
    if (status != restart_as_new_replica) return status;
    if (!o.data_dir.empty()) {
      const std::filesystem::path aside = converge::storage::set_aside(o.data_dir, "retired");
      std::cerr << "converge-node " << o.id << ": retired data directory set aside as " << aside.string()
                << '\n';
    }
    ::execv("/proc/self/exe", program_argv);
    report(std::string("cannot restart as a new replica: ") + std::strerror(errno));
    return 1;
  } catch (const converge::curve_error& e) {
    report(e.what());
    return 2;
  } catch (const converge::signing::signing_error& e) {
    report(e.what());
    return 2;
  } catch (const converge::replication::journal_error& e) {
    report(e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    report(e.what());
    return 2;
  } catch (const zmq::error_t& e) {
    report(e.what());
    return 2;
  } catch (const std::exception& e) {
    report(e.what());
    return 1;
  }
}

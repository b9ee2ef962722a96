#include "options.hpp"

#include <memory>
#include <set>
#include <sys/un.h>

#include "common/cli.hpp"

namespace converge_node {
namespace {

constexpr const char* synopsis =
    "usage: converge-node --id N --bind ENDPOINT [--join ENDPOINT]... [--peer ENDPOINT]... [options]\n"
    "       converge-node keygen";

constexpr const char* description =
    "A gossip node holding a demo state (counter, set, map, stock); reads commands\n"
    "on stdin, one per line (at most 65536 bytes), and answers each with one line\n"
    "(type 'help').";

constexpr const char* footer =
    "Endpoints: tcp://HOST:PORT with PORT from 1 to 65535 (on --bind, HOST may be *\n"
    "for every interface and PORT * or 0 for any free port; the port bound is logged),\n"
    "ipc://PATH (at most 107 bytes) or inproc://NAME.\n"
    "Durability: with --data-dir DIR the node keeps its state, identity and what its\n"
    "peers acknowledged in DIR (LMDB) and restarts from it. --sync write (the default)\n"
    "answers a write 'ok' only once it is on disk: after a crash or power loss no\n"
    "write answered 'ok' is lost. --sync periodic answers at once and writes to disk\n"
    "within one gossip interval: a crash may lose the writes of that interval, but\n"
    "never one a peer has seen (nothing leaves the node before it is on disk).\n"
    "A directory that cannot be read (corrupt, another node's, in use) stops the\n"
    "node with exit status 2; --fresh sets it aside (renamed DIR.damaged-TIME)\n"
    "and starts a new replica, under a new identity.\n"
    "Membership: every node keeps a member list (a CRDT: id, replica, endpoints, status\n"
    "joining/up/leaving/down/removed, incarnation; command 'members'). --join ENDPOINT\n"
    "joins a running cluster through any one member and learns the rest; --peer\n"
    "endpoints are seeds too. Host names are resolved again at every join attempt,\n"
    "and --seed-command CMD is run (sh -c, at most 2 s) at every attempt: each line\n"
    "it prints is a seed endpoint. While no member answers, the node says so on\n"
    "stderr and tries again every 2 heartbeats. Each node links to a few members\n"
    "(its active view, about log2(N)+1, at most 16), which are its replication peers.\n"
    "Failure detection (SWIM with Lifeguard), T = --heartbeat-ms (500 ms by default):\n"
    "one probe every T (timeout 2T/5, then 3 indirect probes); a member that misses\n"
    "it is suspected, and declared down after the suspicion timeout: from\n"
    "4 x max(1, log10 N) x T once 2 other members confirm (2.4 s for N = 16 with\n"
    "T = 500 ms) up to 6 times that with no confirmation; a suspected member that\n"
    "runs again refutes at once, so a pause shorter than the timeout minus T is never\n"
    "taken for a crash. 'leave' hands this node's stock rights to the up member with\n"
    "the smallest replica id, says leaving, then removed, and exits 0.\n"
    "Consistency levels: a mutating command (inc, dec, add, rm, put, del, stock-add,\n"
    "sell, grant) and 'state' take an optional last word: local (the default, as\n"
    "without it), majority or all, e.g. 'add X majority', 'inc 3 all', 'state majority',\n"
    "'sell 5 majority'. A write then answers 'ok' once that many of the up members\n"
    "(this node included) hold it on disk; 'state' joins the states of that many\n"
    "first; 'sell' short of local rights asks the members holding the most for theirs.\n"
    "After --timeout-ms it answers 'error: timed out: A of R members acknowledged'\n"
    "(the write stays applied and still reaches every node).\n"
    "Retirement: a replica that left (2T after its removal) or has been down for\n"
    "--retire-down-ms (300000 by default) is retired by the up member with the smallest\n"
    "replica id: its final counter entries are recorded in the replicated member\n"
    "record and its id is pruned from every node's state; values never change\n"
    "(command 'stats': metadata_replica_ids, retired_replicas). A crashed replica's\n"
    "unspent stock rights stay with it, never spendable. A node whose replica was\n"
    "retired (it comes back after that) restarts as a new replica, its --data-dir\n"
    "set aside as DIR.retired-TIME.\n"
    "Exit status: 0 on quit, leave, end of input or SIGTERM/SIGINT; 1 on a runtime failure;\n"
    "2 on bad arguments (one line on stderr).\n";

// Longest ipc:// path the kernel takes (sun_path ends with a NUL).
constexpr std::size_t max_ipc_path = sizeof(sockaddr_un::sun_path) - 1;

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string tcp_problem(std::string_view endpoint, std::string_view address, endpoint_use use) {
  const auto colon = address.rfind(':');
  // "[::1]" alone: the last colon is inside the brackets.
  if (colon == std::string_view::npos ||
      (address.starts_with('[') && address.substr(0, colon).find(']') == std::string_view::npos)) {
    return quoted(endpoint) + " has no port (tcp://HOST:PORT)";
  }
  const std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  if (host.empty()) return quoted(endpoint) + " has no host (tcp://HOST:PORT)";
  if (use == endpoint_use::bind) {
    if (port == "*" || port == "0") return {};
  } else if (host == "*") {
    return quoted(endpoint) + ": a peer's host cannot be *";
  }
  const auto n = converge_cli::parse_number(port, 65535);
  if (!n || *n == 0) {
    return quoted(endpoint) + ": the port must be a number from 1 to 65535" +
           (use == endpoint_use::bind ? std::string(" (or * or 0 for any free port)") : std::string()) +
           ", not " + quoted(port);
  }
  return {};
}

}  // namespace

std::string endpoint_problem(std::string_view endpoint, endpoint_use use) {
  for (const char c : endpoint) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') {
      return quoted(endpoint) + " contains a space or a control character";
    }
  }
  if (endpoint.starts_with("tcp://")) return tcp_problem(endpoint, endpoint.substr(6), use);
  if (endpoint.starts_with("ipc://")) {
    const std::string_view path = endpoint.substr(6);
    if (path.empty()) return quoted(endpoint) + " has no path (ipc://PATH)";
    if (path.size() > max_ipc_path) {
      return quoted(endpoint) + ": an ipc path has at most " + std::to_string(max_ipc_path) + " bytes";
    }
    return {};
  }
  if (endpoint.starts_with("inproc://")) {
    if (endpoint.size() == 9) return quoted(endpoint) + " has no name (inproc://NAME)";
    return {};
  }
  return quoted(endpoint) + " is not tcp://HOST:PORT, ipc://PATH or inproc://NAME";
}

options parse_options(const std::vector<std::string_view>& args) {
  options o;
  bool have_id = false;
  auto app = std::make_unique<CLI::App>(description, "converge-node");
  app->formatter(std::make_shared<converge_cli::help_formatter>(synopsis));
  app->footer(footer);
  app->set_help_flag("-h,--help", "this text");

  converge_cli::add_number(
      *app, "--id", 1, (std::uint64_t{1} << 40) - 1,
      [&](std::uint64_t v) {
        o.id = v;
        have_id = true;
      },
      "this node's id (1 .. 2^40-1), unique in the cluster", "N", "1 to 2^40-1");
  // Each endpoint is checked as it is read (and the message names it).
  auto endpoints = [](std::vector<std::string>& out, endpoint_use use, std::string flag) {
    return [&out, use, flag = std::move(flag)](const std::vector<std::string>& list) {
      for (const auto& e : list) {
        if (const auto problem = endpoint_problem(e, use); !problem.empty()) {
          throw CLI::ValidationError(flag + " " + problem);
        }
      }
      out = list;
    };
  };
  app->add_option_function<std::vector<std::string>>(
         "--bind", endpoints(o.bind, endpoint_use::bind, "--bind"),
         "where peers reach this node (tcp://127.0.0.1:7001, ipc:///tmp/n1); repeatable")
      ->type_name("ENDPOINT")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option_function<std::vector<std::string>>(
         "--peer", endpoints(o.peers, endpoint_use::peer, "--peer"), "a peer to connect to (repeatable)")
      ->type_name("ENDPOINT")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option_function<std::vector<std::string>>(
         "--join", endpoints(o.join, endpoint_use::peer, "--join"),
         "join the cluster through this member (repeatable; any one will do)")
      ->type_name("ENDPOINT")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option_function<std::string>(
         "--seed-command",
         [&](const std::string& c) {
           if (c.find_first_not_of(" \t") == std::string::npos)
             throw CLI::ValidationError("--seed-command needs a command");
           o.seed_command = c;
         },
         "run at every join attempt; each line it prints is a seed endpoint")
      ->type_name("CMD");
  app->add_option_function<std::vector<std::string>>(
         "--advertise", endpoints(o.advertise, endpoint_use::peer, "--advertise"),
         "the endpoint members reach this node at (repeatable; default: the bound ones, * as 127.0.0.1)")
      ->type_name("ENDPOINT")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto millis = [](std::chrono::milliseconds& out) {
    return [&out](std::uint64_t v) { out = std::chrono::milliseconds(static_cast<std::int64_t>(v)); };
  };
  converge_cli::add_number(*app, "--gossip-ms", 1, 600000, millis(o.gossip),
                           "gossip interval in milliseconds, 1 to 600000 (default 50)", "MS");
  converge_cli::add_number(*app, "--timeout-ms", 1, 600000, millis(o.timeout),
                           "timeout of a command at level majority or all, in milliseconds, 1 to 600000 "
                           "(default 2000)",
                           "MS");
  converge_cli::add_number(*app, "--heartbeat-ms", 10, 600000, millis(o.heartbeat),
                           "hello interval, 10 to 600000; a peer silent for 3 is unreachable (default 500)",
                           "MS");
  converge_cli::add_number(*app, "--retire-down-ms", 1000, 86400000, millis(o.retire_down),
                           "a member down this long is retired, 1000 to 86400000 (default 300000)", "MS");
  auto file = [](std::string& out, std::string flag) {
    return [&out, flag = std::move(flag)](const std::string& f) {
      if (f.empty()) throw CLI::ValidationError(flag + " needs a file name");
      out = f;
    };
  };
  app->add_option_function<std::string>("--curve-key", file(o.curve_key, "--curve-key"),
                                        "own CURVE key pair (two lines: public, secret; from 'keygen')")
      ->type_name("FILE");
  app->add_option_function<std::string>("--curve-allow", file(o.curve_allow, "--curve-allow"),
                                        "allowed peers, one per line: PUBLIC-KEY ID [ENDPOINT] [sign=KEY] "
                                        "(ENDPOINT: the --peer with that key;"
                                        " KEY: its Ed25519 signing key)")
      ->type_name("FILE");
  app->add_option_function<std::string>(
         "--signing-key", file(o.signing_key, "--signing-key"),
         "own Ed25519 key pair (from 'signing-keygen'): sign this node's counter entries and believe a peer's"
         " only under its sign= key (needs CURVE)")
      ->type_name("FILE");
  converge_cli::add_number(
      *app, "--max-message-bytes", 1024, std::uint64_t{1} << 30,
      [&](std::uint64_t v) { o.max_message_bytes = static_cast<std::size_t>(v); },
      "largest message sent or accepted, 1024 to 2^30 (default 1048576)", "N", "1024 to 2^30");
  converge_cli::add_flag(*app, "--daemon,--no-stdin", o.daemon, "ignore stdin; run until SIGTERM or SIGINT");
  converge_cli::add_flag(*app, "--quiet", o.quiet, "no log lines on stderr");
  CLI::Option* data_dir =
      app->add_option_function<std::string>("--data-dir", file(o.data_dir, "--data-dir"),
                                            "keep this node's state in DIR and restart from it (see below)")
          ->type_name("DIR");
  CLI::Option* sync =
      app->add_option_function<std::string>(
             "--sync",
             [&](const std::string& v) {
               if (v == "write") {
                 o.sync = options::sync_mode::write;
               } else if (v == "periodic") {
                 o.sync = options::sync_mode::periodic;
               } else {
                 throw CLI::ValidationError("--sync must be write or periodic, not '" + v + "'");
               }
             },
             "write (answer ok once on disk; default) or periodic (within a gossip interval)")
          ->type_name("MODE");
  CLI::Option* fresh = converge_cli::add_flag(
      *app, "--fresh", o.fresh, "with --data-dir: set an unreadable directory aside and start a new replica");
  CLI::App* keygen =
      app->add_subcommand("keygen", "print a new CURVE key pair (public, then secret) and exit");
  CLI::App* signing_keygen = app->add_subcommand(
      "signing-keygen", "print a new Ed25519 signing key pair (public, then secret; hex) and exit");

  if (converge_cli::parse(*app, args)) {
    o.help = true;
    o.help_text = app->help();
    return o;
  }
  for (CLI::App* sub : {keygen, signing_keygen}) {
    if (!sub->parsed()) continue;
    for (const CLI::Option* opt : app->get_options()) {
      if (opt->count() > 0)
        throw usage_error(sub->get_name() + " takes no options (" + opt->get_name() + " given)");
    }
    (sub == keygen ? o.keygen : o.signing_keygen) = true;
    return o;
  }
  if (!have_id) throw usage_error("--id is required");
  if (o.bind.empty() && o.peers.empty()) throw usage_error("give --bind or --peer (or both)");
  auto unique = [](const std::vector<std::string>& list, const char* flag) {
    std::set<std::string_view> seen;
    for (const auto& e : list) {
      if (!seen.insert(e).second) throw usage_error(std::string(flag) + " " + e + " is given twice");
    }
  };
  unique(o.bind, "--bind");
  unique(o.peers, "--peer");
  unique(o.join, "--join");
  unique(o.advertise, "--advertise");
  if (o.bind.empty() && (!o.join.empty() || !o.seed_command.empty() || !o.advertise.empty()))
    throw usage_error("--join, --seed-command and --advertise need --bind (members reach each other there)");
  if (o.curve_key.empty() != o.curve_allow.empty()) {
    throw usage_error("--curve-key and --curve-allow go together");
  }
  if (!o.signing_key.empty() && o.curve_key.empty()) {
    throw usage_error(
        "--signing-key needs --curve-key and --curve-allow (the allow-list holds the peers' sign= keys)");
  }
  if (data_dir->count() == 0) {
    if (sync->count() > 0) throw usage_error("--sync needs --data-dir");
    if (fresh->count() > 0) throw usage_error("--fresh needs --data-dir");
  }
  return o;
}

}  // namespace converge_node

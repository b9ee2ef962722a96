#include "options.hpp"

#include <charconv>

namespace converge_node {

std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

std::string usage() {
  return "usage: converge-node --id N --bind ENDPOINT [--peer ENDPOINT]... [options]\n"
         "       converge-node keygen            print a new CURVE key pair (public, then secret)\n"
         "\n"
         "A gossip node holding a demo state (counter, set, map, stock); reads commands\n"
         "on stdin, one per line, and answers each with one line (type 'help').\n"
         "\n"
         "  --id N                 this node's id (1 .. 2^40-1), unique in the cluster\n"
         "  --bind ENDPOINT        where peers reach this node (tcp://127.0.0.1:7001, ipc:///tmp/n1)\n"
         "  --peer ENDPOINT        a peer to connect to (repeatable)\n"
         "  --gossip-ms MS         gossip interval in milliseconds (default 50)\n"
         "  --heartbeat-ms MS      hello interval; a peer silent for 3 is unreachable (default 500)\n"
         "  --curve-key FILE       own CURVE key pair (two lines: public, secret; from 'keygen')\n"
         "  --curve-allow FILE     allowed peers, one per line: PUBLIC-KEY ID [ENDPOINT]\n"
         "                         (ENDPOINT gives the server key for that --peer)\n"
         "  --max-message-bytes N  largest message sent or accepted (default 1048576)\n"
         "  --daemon, --no-stdin   ignore stdin; run until SIGTERM or SIGINT\n"
         "  --quiet                no log lines on stderr\n"
         "  --help                 this text\n";
}

options parse_options(const std::vector<std::string_view>& args) {
  options o;
  bool have_id = false;
  if (!args.empty() && args[0] == "keygen") {
    if (args.size() > 1) throw usage_error("keygen takes no arguments");
    o.keygen = true;
    return o;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw usage_error(std::string(arg) + " needs a value");
      return args[++i];
    };
    auto flag = [&] {
      if (inline_value) throw usage_error(std::string(arg) + " takes no value");
    };
    auto millis = [&](std::string_view v, std::uint64_t lo, std::uint64_t hi) {
      const auto n = parse_number(v, hi);
      if (!n || *n < lo) {
        throw usage_error(std::string(arg) + " needs a number of milliseconds from " + std::to_string(lo) + " to " +
                          std::to_string(hi) + ", not '" + std::string(v) + "'");
      }
      return std::chrono::milliseconds(static_cast<std::int64_t>(*n));
    };
    if (arg == "--help" || arg == "-h") {
      flag();
      o.help = true;
    } else if (arg == "--id") {
      const auto v = value();
      const auto n = parse_number(v, (std::uint64_t{1} << 40) - 1);
      if (!n || *n == 0) throw usage_error("--id needs a number from 1 to 2^40-1, not '" + std::string(v) + "'");
      o.id = *n;
      have_id = true;
    } else if (arg == "--bind") {
      const auto v = value();
      if (v.empty()) throw usage_error("--bind needs an endpoint");
      o.bind.emplace_back(v);
    } else if (arg == "--peer") {
      const auto v = value();
      if (v.empty()) throw usage_error("--peer needs an endpoint");
      o.peers.emplace_back(v);
    } else if (arg == "--gossip-ms") {
      o.gossip = millis(value(), 1, 600000);
    } else if (arg == "--heartbeat-ms") {
      o.heartbeat = millis(value(), 10, 600000);
    } else if (arg == "--curve-key") {
      o.curve_key = value();
    } else if (arg == "--curve-allow") {
      o.curve_allow = value();
    } else if (arg == "--max-message-bytes") {
      const auto v = value();
      const auto n = parse_number(v, std::uint64_t{1} << 30);
      if (!n || *n < 1024) throw usage_error("--max-message-bytes needs a number from 1024 to 2^30");
      o.max_message_bytes = static_cast<std::size_t>(*n);
    } else if (arg == "--daemon" || arg == "--no-stdin") {
      flag();
      o.daemon = true;
    } else if (arg == "--quiet") {
      flag();
      o.quiet = true;
    } else {
      throw usage_error("unknown argument '" + std::string(args[i]) + "'");
    }
  }
  if (o.help) return o;
  if (!have_id) throw usage_error("--id is required");
  if (o.bind.empty() && o.peers.empty()) throw usage_error("give --bind or --peer (or both)");
  if (o.curve_key.empty() != o.curve_allow.empty()) {
    throw usage_error("--curve-key and --curve-allow go together");
  }
  return o;
}

}  // namespace converge_node

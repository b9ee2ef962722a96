// converge-node: a gossip node holding a demo state, driven by commands on
// stdin (one per line, one answer line each). See `converge-node --help`.

#include "commands.hpp"
#include "demo_state.hpp"
#include "options.hpp"

#include "converge/transport/curve.hpp"
#include "converge/transport/zmq_node.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

int signal_pipe[2] = {-1, -1};

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

constexpr std::size_t max_line = 64 * 1024;

int run(const converge_node::options& o) {
  converge::node_options no;
  no.id = o.id;
  no.bind = o.bind;
  no.peers = o.peers;
  no.gossip_interval = o.gossip;
  no.heartbeat_interval = o.heartbeat;
  no.replication.max_message_bytes = o.max_message_bytes;
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
  converge_node::node node(no);
  install_signals();
  if (!o.quiet) {
    std::cerr << "converge-node " << o.id << ": replica " << node.replica().value() << ", bound";
    for (const auto& e : node.endpoints()) std::cerr << ' ' << e;
    std::cerr << ", " << o.peers.size() << " peer endpoint(s)" << (no.curve ? ", CURVE on" : "") << '\n';
  }

  std::string buffer;
  bool stdin_open = !o.daemon;
  bool discarding = false;  // inside an over-long line
  std::array<char, 8192> chunk{};
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
    if (n > 0 && (fds[1].revents & POLLIN)) {
      if (!o.quiet) std::cerr << "converge-node " << o.id << ": signal, exiting\n";
      return 0;
    }
    if (n > 0 && stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t got = ::read(STDIN_FILENO, chunk.data(), chunk.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      const bool eof = got <= 0;
      if (!eof) buffer.append(chunk.data(), static_cast<std::size_t>(got));
      std::size_t start = 0;
      for (;;) {
        const auto nl = buffer.find('\n', start);
        if (nl == std::string::npos) break;
        std::string_view line(buffer.data() + start, nl - start);
        start = nl + 1;
        if (discarding) {
          discarding = false;
          continue;
        }
        bool quit = false;
        const std::string reply = converge_node::execute(node, line, quit);
        if (!answer(reply)) return 0;
        if (quit) return 0;
        node.process();  // send the delta now rather than at the next wakeup
      }
      buffer.erase(0, start);
      if (buffer.size() > max_line) {
        buffer.clear();
        if (!discarding && !answer("error: line longer than 65536 bytes")) return 0;
        discarding = true;
      }
      if (eof) {
        if (!buffer.empty() && !discarding) {
          bool quit = false;
          answer(converge_node::execute(node, buffer, quit));
        }
        return 0;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  converge_node::options o;
  try {
    o = converge_node::parse_options(args);
  } catch (const converge_node::usage_error& e) {
    std::cerr << "converge-node: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (o.help) {
    std::cout << converge_node::usage();
    return 0;
  }
  if (o.keygen) {
    try {
      const auto kp = converge::generate_curve_key_pair();
      std::cout << kp.public_key << '\n' << kp.secret_key << '\n';
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "converge-node: " << e.what() << '\n';
      return 1;
    }
  }
  try {
    return run(o);
  } catch (const converge::curve_error& e) {
    std::cerr << "converge-node: " << e.what() << '\n';
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "converge-node: " << e.what() << '\n';
    return 2;
  } catch (const zmq::error_t& e) {
    std::cerr << "converge-node: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "converge-node: " << e.what() << '\n';
    return 1;
  }
}

// converge-hostile-client: a ZeroMQ peer that tries to exhaust a node's
// memory, and reports the node's resident memory while it does.
//
//   converge-hostile-client frames ENDPOINT --pid PID [--frames 1000] [--frame-bytes 1048576] [--seconds 10]
//       complete multipart messages (a valid data envelope, then FRAMES frames
//       of FRAME-BYTES each), from a cppzmq DEALER, as fast as loopback takes them;
//   converge-hostile-client half tcp://127.0.0.1:PORT --pid PID [--connections 10000] [--frames 1]
//       [--frame-bytes 1048576]
//       half-finished messages: CONNECTIONS raw ZMTP 3.0 NULL connections, each
//       sending FRAMES frames with the MORE flag set and never the last one
//       (libzmq's own sockets cannot leave a message unfinished);
//
// Every second, and at the end, it prints one JSON line: the node's RSS
// (VmRSS of PID) and what was sent. A benchmark, not a test: the bound it
// measures is documented in transport/include/converge/transport/zmq_node.hpp.

#include <zmq.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

namespace {

std::uint64_t rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// A valid converge transport envelope (detail/envelope.hpp): data, from node 77.
std::vector<std::byte> data_envelope() {
  std::vector<std::byte> e(20, std::byte{0});
  e[0] = std::byte{'C'};
  e[1] = std::byte{'V'};
  e[2] = std::byte{1};
  e[3] = std::byte{2};
  e[4] = std::byte{77};
  e[12] = std::byte{7};
  return e;
}

struct args {
  std::string mode, endpoint;
  int pid = 0;
  std::uint64_t frames = 1000, frame_bytes = 1 << 20, connections = 10000;
  double seconds = 10;
};

std::optional<args> parse(int argc, char** argv) {
  if (argc < 3) return std::nullopt;
  args a;
  a.mode = argv[1];
  a.endpoint = argv[2];
  if (a.mode == "half") a.frames = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--pid") {
      a.pid = std::atoi(v);
    } else if (k == "--frames") {
      a.frames = std::stoull(v);
    } else if (k == "--frame-bytes") {
      a.frame_bytes = std::stoull(v);
    } else if (k == "--connections") {
      a.connections = std::stoull(v);
    } else if (k == "--seconds") {
      a.seconds = std::stod(v);
    } else {
      return std::nullopt;
    }
  }
  if (a.pid <= 0 || (a.mode != "frames" && a.mode != "half")) return std::nullopt;
  return a;
}

void report(const args& a, std::uint64_t sent_bytes, std::uint64_t messages, std::uint64_t open_connections,
            double t) {
  std::printf(
      "{\"mode\":\"%s\",\"t\":%.2f,\"node_rss_kib\":%llu,\"sent_bytes\":%llu,\"messages\":%llu,"
      "\"connections\":%llu}\n",
      a.mode.c_str(), t, static_cast<unsigned long long>(rss_kib(a.pid)),
      static_cast<unsigned long long>(sent_bytes), static_cast<unsigned long long>(messages),
      static_cast<unsigned long long>(open_connections));
  std::fflush(stdout);
}

int frames_mode(const args& a) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::sndhwm, 4);
  s.set(zmq::sockopt::linger, 0);
  s.connect(a.endpoint);
  const auto env = data_envelope();
  const std::vector<std::byte> frame(a.frame_bytes, std::byte{0x5a});
  const auto start = std::chrono::steady_clock::now();
  auto next_report = start;
  std::uint64_t sent = 0, messages = 0;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const double t = std::chrono::duration<double>(now - start).count();
    if (now >= next_report) {
      report(a, sent, messages, 1, t);
      next_report += std::chrono::seconds(1);
    }
    if (t >= a.seconds) break;
    s.send(zmq::buffer(env.data(), env.size()), zmq::send_flags::sndmore);
    for (std::uint64_t k = 0; k < a.frames; ++k) {
      s.send(zmq::buffer(frame.data(), frame.size()),
             k + 1 < a.frames ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    sent += env.size() + a.frames * a.frame_bytes;
    ++messages;
  }
  report(a, sent, messages, 1, a.seconds);
  return 0;
}

bool send_all(int fd, const void* p, std::size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads the node's greeting and READY (at most 2 s): true once they came.
bool await_ready(int fd) {
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[512];
  while (got.size() < 64 || got.find("READY", 64) == std::string::npos) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return false;
    got.append(buf, static_cast<std::size_t>(r));
  }
  return true;
}

void zmtp_frame_header(std::vector<char>& out, bool more, std::uint64_t size) {
  if (size <= 255) {
    out.push_back(static_cast<char>(more ? 1 : 0));
    out.push_back(static_cast<char>(size));
    return;
  }
  out.push_back(static_cast<char>((more ? 1 : 0) | 2));
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
}

int half_mode(const args& a) {
  const std::string prefix = "tcp://";
  const auto colon = a.endpoint.rfind(':');
  if (a.endpoint.rfind(prefix, 0) != 0 || colon == std::string::npos) {
    std::cerr << "half: the endpoint must be tcp://IPV4:PORT\n";
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(a.endpoint.substr(colon + 1))));
  if (::inet_pton(AF_INET, a.endpoint.substr(prefix.size(), colon - prefix.size()).c_str(), &addr.sin_addr) !=
      1) {
    std::cerr << "half: bad address\n";
    return 2;
  }
  // ZMTP 3.0 greeting (NULL) and READY for a DEALER, then the envelope with MORE.
  std::vector<char> hello(64, 0);
  hello[0] = static_cast<char>(0xff);
  hello[9] = 0x7f;
  hello[10] = 3;
  std::memcpy(&hello[12], "NULL", 4);
  const std::string ready = std::string("\x05READY\x0bSocket-Type\x00\x00\x00\x06", 22) + "DEALER";
  hello.push_back(0x04);
  hello.push_back(static_cast<char>(ready.size()));
  hello.insert(hello.end(), ready.begin(), ready.end());
  // libzmq fails the handshake of a peer that sends frames before the
  // node's greeting and READY arrived: the message starts after them.
  std::vector<char> opening;
  const auto env = data_envelope();
  zmtp_frame_header(opening, true, env.size());
  for (const auto b : env) opening.push_back(static_cast<char>(b));
  std::vector<char> frame;
  zmtp_frame_header(frame, true, a.frame_bytes);
  frame.resize(frame.size() + a.frame_bytes, 'h');

  std::vector<int> fds;
  std::uint64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  auto next_report = start;
  for (std::uint64_t c = 0; c < a.connections; ++c) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      std::cerr << "half: connection " << c << ": " << std::strerror(errno) << '\n';
      if (fd >= 0) ::close(fd);
      break;
    }
    if (!send_all(fd, hello.data(), hello.size()) || !await_ready(fd) ||
        !send_all(fd, opening.data(), opening.size())) {
      ::close(fd);
      continue;
    }
    sent += hello.size() + opening.size();
    for (std::uint64_t k = 0; k < a.frames; ++k) {
      if (!send_all(fd, frame.data(), frame.size())) break;
      sent += frame.size();
    }
    fds.push_back(fd);
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_report) {
      report(a, sent, fds.size(), fds.size(), std::chrono::duration<double>(now - start).count());
      next_report += std::chrono::seconds(1);
    }
  }
  // Hold every message unfinished for a while: the node must not keep growing.
  for (int i = 0; i < 3; ++i) {
    ::sleep(1);
    report(a, sent, fds.size(), fds.size(),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  for (const int fd : fds) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto a = parse(argc, argv);
  if (!a) {
    std::cerr
        << "usage: converge-hostile-client frames|half ENDPOINT --pid PID [--frames N] [--frame-bytes N] "
           "[--connections N] [--seconds S]\n";
    return 2;
  }
  try {
    return a->mode == "frames" ? frames_mode(*a) : half_mode(*a);
  } catch (const std::exception& e) {
    std::cerr << "converge-hostile-client: " << e.what() << '\n';
    return 1;
  }
}

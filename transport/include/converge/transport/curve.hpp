#pragma once
/// @file
/// CURVE keys for the ZeroMQ transport: key pairs as Z85 text, and the peer
/// allow-list that binds each public key to one node id.
///
/// Key pair file (what `converge-node keygen` prints): the public key on the
/// first line, the secret key on the second (40 Z85 characters each). Blank
/// lines and lines starting with `#` are ignored.
///
/// Allow-list file: one peer per line, `PUBLIC-KEY ID [ENDPOINT] [sign=KEY]`. A peer that
/// connects with a key not listed is refused by the node's ZAP handler; a peer
/// whose key is listed may only speak as that `ID` (its messages claiming any
/// other id are dropped). `ENDPOINT` tells this node which server key to expect
/// when it connects to that endpoint (a `--peer`); without it the node cannot
/// connect to the peer, only accept it. `sign=KEY` is the peer's Ed25519
/// public key (64 hex characters) for origin signing: with signing on, this
/// node believes that peer's counter entries and rights only when KEY's
/// signature covers them (replication/origin_signing.hpp).

#include <zmq.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace converge {

/// A CURVE key pair as Z85 text (40 characters each).
struct curve_key_pair {
  std::string public_key;
  std::string secret_key;
};

/// One entry of the allow-list: a public key, the node id it speaks for, and
/// optionally the endpoint where that node serves.
struct curve_peer {
  std::string public_key;
  std::uint64_t id = 0;
  std::string endpoint;
  std::string signing_key;  ///< hex Ed25519 public key (`sign=`), empty when not given
};

/// CURVE settings of a node: its own key pair and the peers it accepts.
struct curve_options {
  curve_key_pair own;
  std::vector<curve_peer> allow;

  /// The entry for `public_key` (Z85), or nullptr.
  [[nodiscard]] const curve_peer* find_key(std::string_view public_key) const {
    for (const auto& p : allow) {
      if (p.public_key == public_key) return &p;
    }
    return nullptr;
  }
  /// The entry whose endpoint is `endpoint`, or nullptr.
  [[nodiscard]] const curve_peer* find_endpoint(std::string_view endpoint) const {
    for (const auto& p : allow) {
      if (!p.endpoint.empty() && p.endpoint == endpoint) return &p;
    }
    return nullptr;
  }
};

/// A key file or allow-list that cannot be used.
class curve_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// True when `key` is 40 characters of Z85 that decode to a 32-byte key.
[[nodiscard]] inline bool is_z85_key(std::string_view key) {
  if (key.size() != 40) return false;
  const std::string text(key);
  std::array<std::uint8_t, 32> raw{};
  return zmq_z85_decode(raw.data(), text.c_str()) != nullptr;
}

/// Z85 text of a 32-byte binary key.
[[nodiscard]] inline std::string z85_key(const void* raw32) {
  std::array<char, 41> text{};
  if (zmq_z85_encode(text.data(), static_cast<const std::uint8_t*>(raw32), 32) == nullptr) {
    throw curve_error("z85 encoding failed");
  }
  return std::string(text.data(), 40);
}

/// A new key pair from libzmq (`zmq_curve_keypair`). Throws `curve_error`
/// when libzmq was built without CURVE.
[[nodiscard]] inline curve_key_pair generate_curve_key_pair() {
  std::array<char, 41> pub{};
  std::array<char, 41> sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    throw curve_error("zmq_curve_keypair failed: libzmq has no CURVE support");
  }
  return {std::string(pub.data(), 40), std::string(sec.data(), 40)};
}

/// True when this libzmq supports CURVE.
[[nodiscard]] inline bool curve_available() { return zmq_has("curve") != 0; }

namespace transport::detail {

inline std::vector<std::string> meaningful_lines(std::istream& in) {
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto last = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(first, last - first + 1));
  }
  return out;
}

inline std::ifstream open_or_throw(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw curve_error("cannot read " + path);
  return in;
}

}  // namespace transport::detail

/// Reads a key pair: public key on the first meaningful line, secret on the second.
[[nodiscard]] inline curve_key_pair parse_curve_key_pair(std::istream& in,
                                                         const std::string& name = "key file") {
  const auto lines = transport::detail::meaningful_lines(in);
  if (lines.size() != 2) throw curve_error(name + ": expected two lines (public key, secret key)");
  if (!is_z85_key(lines[0])) throw curve_error(name + ": line 1 is not a 40-character Z85 public key");
  if (!is_z85_key(lines[1])) throw curve_error(name + ": line 2 is not a 40-character Z85 secret key");
  return {lines[0], lines[1]};
}

/// Reads a key pair file (see the file comment).
[[nodiscard]] inline curve_key_pair load_curve_key_pair(const std::string& path) {
  auto in = transport::detail::open_or_throw(path);
  return parse_curve_key_pair(in, path);
}

/// True when `key` is 64 hex characters (an Ed25519 public key).
[[nodiscard]] inline bool is_hex_signing_key(std::string_view key) {
  return key.size() == 64 && key.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

/// Reads an allow-list: `PUBLIC-KEY ID [ENDPOINT] [sign=KEY]` per line.
[[nodiscard]] inline std::vector<curve_peer> parse_curve_allow_list(std::istream& in,
                                                                    const std::string& name = "allow-list") {
  std::vector<curve_peer> out;
  std::size_t n = 0;
  for (const auto& line : transport::detail::meaningful_lines(in)) {
    ++n;
    std::istringstream fields(line);
    std::string key;
    std::string id_text;
    fields >> key >> id_text;
    const std::string where = name + ": entry " + std::to_string(n);
    if (!is_z85_key(key)) throw curve_error(where + ": not a 40-character Z85 public key");
    curve_peer p;
    p.public_key = key;
    const auto* end = id_text.data() + id_text.size();
    const auto [ptr, ec] = std::from_chars(id_text.data(), end, p.id);
    if (id_text.empty() || ec != std::errc{} || ptr != end) {
      throw curve_error(where + ": expected 'PUBLIC-KEY ID [ENDPOINT] [sign=KEY]' with a numeric ID");
    }
    for (std::string word; fields >> word;) {
      if (word.starts_with("sign=")) {
        if (!p.signing_key.empty()) throw curve_error(where + ": sign= given twice");
        p.signing_key = word.substr(5);
        if (!is_hex_signing_key(p.signing_key))
          throw curve_error(where + ": sign= needs a 64-character hex Ed25519 public key");
      } else if (p.endpoint.empty() && p.signing_key.empty()) {
        p.endpoint = word;
      } else {
        throw curve_error(where + ": unexpected '" + word +
                          "' (expected 'PUBLIC-KEY ID [ENDPOINT] [sign=KEY]')");
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

/// Reads an allow-list file.
[[nodiscard]] inline std::vector<curve_peer> load_curve_allow_list(const std::string& path) {
  auto in = transport::detail::open_or_throw(path);
  return parse_curve_allow_list(in, path);
}

}  // namespace converge

#pragma once
/// @file
/// `converge::signing::ed25519_signer`: origin signing
/// (`replicator_options::signer`, see replication/origin_signing.hpp) with
/// Ed25519 from libsodium.
///
/// Keys as text are lowercase or uppercase hex: 64 characters for a public
/// key, 128 for a secret key (libsodium's secret key holds the seed and the
/// public key). A key pair file (what `converge-node signing-keygen` prints)
/// has the public key on its first meaningful line and the secret key on the
/// second; blank lines and lines starting with `#` are ignored.
///
/// Whose key verifies an entry: the owner's node, which is the replica id
/// without its 24 incarnation bits (`replica_id::with_incarnation`), so every
/// life of a node signs with that node's key.

#include "converge/replica_id.hpp"
#include "converge/replication/origin_signing.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <map>
#include <optional>
#include <sodium.h>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace converge::signing {

/// A key or key file that cannot be used.
class signing_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using public_key = std::array<std::byte, crypto_sign_PUBLICKEYBYTES>;
using secret_key = std::array<std::byte, crypto_sign_SECRETKEYBYTES>;

struct signing_key_pair {
  public_key public_part{};
  secret_key secret_part{};
};

namespace detail {

inline void init_sodium() {
  if (sodium_init() < 0) throw signing_error("libsodium failed to initialise");
}

template <std::size_t N>
std::optional<std::array<std::byte, N>> from_hex(std::string_view text) {
  if (text.size() != 2 * N) return std::nullopt;
  std::array<std::byte, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 2; ++k) {
      const char c = text[2 * i + k];
      unsigned d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
      v = v * 16 + d;
    }
    out[i] = static_cast<std::byte>(v);
  }
  return out;
}

inline std::string meaningful(const std::string& line) {
  const auto first = line.find_first_not_of(" \t\r");
  if (first == std::string::npos || line[first] == '#') return {};
  const auto last = line.find_last_not_of(" \t\r");
  return line.substr(first, last - first + 1);
}

}  // namespace detail

/// Lowercase hex of `bytes`.
[[nodiscard]] inline std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const std::byte b : bytes) {
    out.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(digits[std::to_integer<unsigned>(b) & 15]);
  }
  return out;
}

/// A public key from its 64 hex characters; nullopt when it is not one.
[[nodiscard]] inline std::optional<public_key> parse_public_key(std::string_view hex) {
  return detail::from_hex<crypto_sign_PUBLICKEYBYTES>(hex);
}

/// A new random key pair. Throws `signing_error` if libsodium cannot start.
[[nodiscard]] inline signing_key_pair generate_signing_key_pair() {
  detail::init_sodium();
  signing_key_pair kp;
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(kp.public_part.data()),
                      reinterpret_cast<unsigned char*>(kp.secret_part.data()));
  return kp;
}

/// The text of a key pair file: public key, then secret key, a line each.
[[nodiscard]] inline std::string key_pair_text(const signing_key_pair& kp) {
  return to_hex(kp.public_part) + "\n" + to_hex(kp.secret_part) + "\n";
}

/// Reads a key pair file (see the file comment). Throws `signing_error`
/// naming `name` when it is not one, or when the secret key does not hold
/// the public key.
[[nodiscard]] inline signing_key_pair parse_signing_key_pair(std::istream& in,
                                                             const std::string& name = "signing key file") {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (std::string m = detail::meaningful(line); !m.empty()) lines.push_back(std::move(m));
  }
  if (lines.size() != 2) throw signing_error(name + ": expected two lines (public key, secret key)");
  const auto pub = detail::from_hex<crypto_sign_PUBLICKEYBYTES>(lines[0]);
  if (!pub) throw signing_error(name + ": line 1 is not a 64-character hex Ed25519 public key");
  const auto sec = detail::from_hex<crypto_sign_SECRETKEYBYTES>(lines[1]);
  if (!sec) throw signing_error(name + ": line 2 is not a 128-character hex Ed25519 secret key");
  detail::init_sodium();
  public_key held{};
  crypto_sign_ed25519_sk_to_pk(reinterpret_cast<unsigned char*>(held.data()),
                               reinterpret_cast<const unsigned char*>(sec->data()));
  if (held != *pub) throw signing_error(name + ": the secret key does not belong to the public key");
  return {*pub, *sec};
}

/// Reads a key pair file. Throws `signing_error`.
[[nodiscard]] inline signing_key_pair load_signing_key_pair(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw signing_error("cannot read " + path);
  return parse_signing_key_pair(in, path);
}

/// Signs with this node's secret key; verifies with the public key of the
/// owner's node. Verification is thread-safe; `set_key` is not (call it
/// where the replicator is driven, e.g. under the node's lock).
class ed25519_signer final : public entry_signer {
 public:
  /// `keys`: every node's public key, by node id (this node's included, so
  /// that its own entries relayed back verify). Throws `signing_error` if
  /// libsodium cannot start.
  ed25519_signer(const signing_key_pair& own, std::map<std::uint64_t, public_key> keys)
      : own_(own), keys_(std::move(keys)) {
    detail::init_sodium();
  }

  /// Adds or replaces the public key of `node` (a member that joined).
  void set_key(std::uint64_t node, const public_key& key) { keys_[node] = key; }

  /// The node whose key signs `owner`'s entries.
  [[nodiscard]] static std::uint64_t node_of(replica_id owner) noexcept { return owner.value() >> 24; }

  [[nodiscard]] entry_signature sign(std::span<const std::byte> message) const override {
    entry_signature sig{};
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         reinterpret_cast<const unsigned char*>(own_.secret_part.data()));
    return sig;
  }

  [[nodiscard]] bool verify(replica_id owner, std::span<const std::byte> message,
                            const entry_signature& signature) const override {
    const auto it = keys_.find(node_of(owner));
    if (it == keys_.end()) return false;
    return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                       reinterpret_cast<const unsigned char*>(it->second.data())) == 0;
  }

 private:
  signing_key_pair own_;
  std::map<std::uint64_t, public_key> keys_;
};

}  // namespace converge::signing

// converge-forger: an allow-listed insider. It holds a valid CURVE key (and,
// optionally, a valid Ed25519 signing key) of its own, speaks converge's
// protocol to one node, and tries to raise other replicas' stock entries and
// rights: transfers from VICTIM to BENEFICIARY, increments of either, each
// unsigned, with random signatures, or signed with its own key.
//
//   converge-forger ENDPOINT --curve-key FILE --server-key Z85 --id N
//                   --victim REPLICA --beneficiary REPLICA [--attempts 10000] [--signing-key FILE]
//
// Prints one JSON line at the end: {"sent": messages}. The test that runs it
// (signing_test.py) checks what the node believed.

#include "converge/replication/envelope.hpp"
#include "converge/replication/origin_signing.hpp"
#include "converge/signing/ed25519.hpp"
#include "converge/transport/curve.hpp"
#include "converge/transport/detail/envelope.hpp"
#include "converge/wire/encode.hpp"

#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "node/demo_state.hpp"

namespace {

struct args {
  std::string endpoint, curve_key, server_key, signing_key;
  std::uint64_t id = 0, victim = 0, beneficiary = 0, attempts = 10000;
};

std::optional<args> parse(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  args a;
  a.endpoint = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--curve-key") {
      a.curve_key = v;
    } else if (k == "--server-key") {
      a.server_key = v;
    } else if (k == "--signing-key") {
      a.signing_key = v;
    } else if (k == "--id") {
      a.id = std::stoull(v);
    } else if (k == "--victim") {
      a.victim = std::stoull(v);
    } else if (k == "--beneficiary") {
      a.beneficiary = std::stoull(v);
    } else if (k == "--attempts") {
      a.attempts = std::stoull(v);
    } else {
      return std::nullopt;
    }
  }
  if (a.curve_key.empty() || a.server_key.empty() || a.id == 0 || a.victim == 0 || a.beneficiary == 0)
    return std::nullopt;
  return a;
}

void send(zmq::socket_t& s, converge::transport::detail::kind k, std::uint64_t id, std::uint64_t replica,
          const std::vector<std::byte>* data) {
  const auto env = converge::transport::detail::write_envelope({k, id, replica});
  s.send(zmq::buffer(env.data(), env.size()),
         data != nullptr ? zmq::send_flags::sndmore : zmq::send_flags::none);
  if (data != nullptr) s.send(zmq::buffer(data->data(), data->size()), zmq::send_flags::none);
}

}  // namespace

int main(int argc, char** argv) {
  const auto a = parse(argc, argv);
  if (!a) {
    std::cerr << "usage: converge-forger ENDPOINT --curve-key FILE --server-key Z85 --id N --victim REPLICA"
                 " --beneficiary REPLICA [--attempts N] [--signing-key FILE]\n";
    return 2;
  }
  using converge::bounded_counter;
  using converge::replica_id;
  const auto keys = converge::load_curve_key_pair(a->curve_key);
  std::optional<converge::signing::ed25519_signer> own;
  if (!a->signing_key.empty())
    own.emplace(converge::signing::load_signing_key_pair(a->signing_key),
                std::map<std::uint64_t, converge::signing::public_key>{});
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::curve_publickey, keys.public_key);
  s.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  s.set(zmq::sockopt::curve_serverkey, a->server_key);
  s.set(zmq::sockopt::linger, 30000);  // every forgery is delivered before exit
  s.connect(a->endpoint);
  const std::uint64_t self = replica_id::with_incarnation(a->id, 1).value();
  using converge::transport::detail::kind;
  send(s, kind::hello, a->id, self, nullptr);

  std::mt19937_64 rng(20261202);
  const replica_id victim{a->victim}, beneficiary{a->beneficiary};
  std::uint64_t sent = 0;
  for (std::uint64_t i = 0; i < a->attempts; ++i) {
    const std::uint64_t amount = 1000 + i;
    converge_node::demo_state forged;
    switch (i % 3) {
      case 0:
        forged.stock = bounded_counter::from_parts({}, {}, {{victim, beneficiary, amount}});
        break;
      case 1:
        forged.stock =
            bounded_counter::from_parts(converge::gcounter::from_entries({{beneficiary, amount}}), {}, {});
        break;
      default:
        forged.stock =
            bounded_counter::from_parts(converge::gcounter::from_entries({{victim, amount}}), {}, {});
        break;
    }
    const std::uint64_t how = (i / 3) % 3;
    converge::replication::signature_block block;
    converge::replication::for_each_owned_entry(forged, [&](const converge::replication::owned_entry& e) {
      converge::entry_signature sig{};
      if (how == 2 && own) {
        sig = own->sign(converge::replication::signed_bytes(e.key, e.value));
      } else {
        for (auto& b : sig) b = static_cast<std::byte>(rng());
      }
      block.add(e.key, {e.value, sig});
    });
    std::vector<std::byte> payload;
    if (how != 0) payload = block.finish();
    const auto state = converge::encode(forged);
    payload.insert(payload.end(), state.begin(), state.end());
    const auto message =
        converge::replication::write_envelope({.kind = converge::replication::message_kind::delta,
                                               .signed_entries = how != 0,
                                               .session = 0x777,
                                               .to = i + 1,
                                               .payload = payload});
    send(s, kind::data, a->id, self, &message);
    ++sent;
    if (sent % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // under the node's HWM
  }
  std::printf("{\"sent\":%llu}\n", static_cast<unsigned long long>(sent));
  return 0;
}

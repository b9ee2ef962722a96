// A consumer of the installed storage layer: a durable gcounter replicator
// over an lmdb_journal in a temporary directory, restored after a reopening,
// found through the package under test (LMDB with it).
#include <converge/gcounter.hpp>
#include <converge/replication/replicator.hpp>
#include <converge/storage/lmdb_journal.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

int main() {
  std::string dir = (std::filesystem::temp_directory_path() / "converge-consumer-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) return 1;
  const converge::replica_id self{7};
  {
    converge::storage::lmdb_journal journal(dir);
    converge::replicator_options options;
    options.journal = &journal;
    converge::replicator<converge::gcounter> r(self, options);
    r.mutate([&](converge::gcounter& c) { return c.increment(self, 5); });
    r.request_sync();
    (void)r.tick(1);
    if (r.durable_position() != r.journal_position()) return 1;
  }
  converge::storage::lmdb_journal journal(dir);
  converge::replicator_options options;
  options.journal = &journal;
  const auto r = converge::replicator<converge::gcounter>::restore(*journal.recover(), options);
  std::filesystem::remove_all(dir);
  if (r.state().value() != 5) return 1;
  std::printf("consumer storage: %llu\n", static_cast<unsigned long long>(r.state().value()));
}

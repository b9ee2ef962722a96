#pragma once
/// @file
/// A canonical Huffman code over bytes, for the string bytes of the wire
/// format 2 columns (see columns.hpp).
///
/// Layout of a coded block (what `encode` appends and `decode` reads):
/// @code
///   block := present lengths bits
///   present := 32 bytes, a bitmap of the symbols that have a code (bit s%8 of byte s/8)
///   lengths := one nibble per present symbol, in symbol order, low nibble first
///              (a length is 1..15; an odd count leaves the last high nibble 0)
///   bits    := the codes of the symbols, most significant bit first, packed from
///              the most significant bit of each byte; the last byte is padded with 0
/// @endcode
/// Codes are canonical: by (length, symbol), each the previous plus one,
/// shifted left when the length grows. So the lengths alone define the code.
///
/// Decoding refuses a table whose lengths over-subscribe the code space
/// (Kraft sum above 1) or leave part of it unused (except a lone symbol,
/// which takes one bit), a bit stream that ends before the declared number
/// of symbols, and a stream with whole bytes left over.

#include "converge/wire/archive.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace converge::wire::huffman {

/// The longest code: a 15-bit code and a 64-bit bit buffer leave room to refill by bytes.
inline constexpr unsigned max_bits = 15;
/// Bytes of a table's symbol bitmap.
inline constexpr std::size_t bitmap_bytes = 32;

using frequencies = std::array<std::uint64_t, 256>;
using lengths = std::array<std::uint8_t, 256>;

/// How often each byte occurs in `data`.
[[nodiscard]] inline frequencies count(std::span<const std::uint8_t> data) {
  frequencies f{};
  for (const std::uint8_t b : data) ++f[b];
  return f;
}

namespace detail {

/// Huffman code lengths, unlimited: repeatedly merges the two lightest
/// nodes (ties broken by creation order, so the result is deterministic).
inline lengths unlimited_lengths(const frequencies& freq) {
  struct node {
    std::uint64_t weight;
    int parent;
  };
  std::vector<node> nodes;
  std::vector<int> leaf_of(256, -1);
  for (unsigned s = 0; s < 256; ++s) {
    if (freq[s] != 0) {
      leaf_of[s] = static_cast<int>(nodes.size());
      nodes.push_back({freq[s], -1});
    }
  }
  lengths out{};
  if (nodes.size() == 1) {
    for (unsigned s = 0; s < 256; ++s) out[s] = freq[s] != 0 ? 1 : 0;
    return out;
  }
  // Two queues (leaves sorted by weight, then merged nodes in creation order)
  // give the two lightest in O(1): merged weights never decrease.
  std::vector<int> leaves(nodes.size());
  for (std::size_t i = 0; i < leaves.size(); ++i) leaves[i] = static_cast<int>(i);
  std::stable_sort(leaves.begin(), leaves.end(),
                   [&](int a, int b) { return nodes[a].weight < nodes[b].weight; });
  std::vector<int> merged;
  std::size_t li = 0, mi = 0;
  const auto take = [&] {
    if (mi == merged.size() || (li < leaves.size() && nodes[leaves[li]].weight <= nodes[merged[mi]].weight))
      return leaves[li++];
    return merged[mi++];
  };
  while ((leaves.size() - li) + (merged.size() - mi) > 1) {
    const int a = take(), b = take();
    const int p = static_cast<int>(nodes.size());
    nodes.push_back({nodes[a].weight + nodes[b].weight, -1});
    nodes[a].parent = p;
    nodes[b].parent = p;
    merged.push_back(p);
  }
  for (unsigned s = 0; s < 256; ++s) {
    if (leaf_of[s] < 0) continue;
    unsigned depth = 0;
    for (int n = leaf_of[s]; nodes[n].parent >= 0; n = nodes[n].parent) ++depth;
    out[s] = static_cast<std::uint8_t>(std::min(depth, 255U));
  }
  return out;
}

}  // namespace detail

/// Code lengths of at most `max_bits` for `freq`: Huffman's, and when a code
/// would be longer, Huffman's on frequencies halved (rounding up, so no used
/// symbol disappears) until none is. Deterministic; all zero when nothing occurs.
[[nodiscard]] inline lengths code_lengths(frequencies freq) {
  for (;;) {
    const lengths l = detail::unlimited_lengths(freq);
    if (*std::max_element(l.begin(), l.end()) <= max_bits) return l;
    for (auto& f : freq) f = (f + 1) / 2;
  }
}

/// The canonical codes of `l` (a code for each symbol whose length is not 0).
[[nodiscard]] inline std::array<std::uint16_t, 256> canonical_codes(const lengths& l) {
  std::array<unsigned, max_bits + 2> per_length{};
  for (const auto n : l) ++per_length[n];
  per_length[0] = 0;
  std::array<unsigned, max_bits + 2> next{};
  unsigned code = 0;
  for (unsigned n = 1; n <= max_bits; ++n) {
    code = (code + per_length[n - 1]) << 1;
    next[n] = code;
  }
  std::array<std::uint16_t, 256> codes{};
  for (unsigned s = 0; s < 256; ++s) {
    if (l[s] != 0) codes[s] = static_cast<std::uint16_t>(next[l[s]]++);
  }
  return codes;
}

/// Bytes of the block `encode` would append for data of these frequencies.
[[nodiscard]] inline std::size_t encoded_size(const frequencies& freq, const lengths& l) {
  std::size_t present = 0;
  std::uint64_t bits = 0;
  for (unsigned s = 0; s < 256; ++s) {
    present += l[s] != 0 ? 1 : 0;
    bits += freq[s] * l[s];
  }
  return bitmap_bytes + (present + 1) / 2 + static_cast<std::size_t>((bits + 7) / 8);
}

/// Appends the block of `data` coded with lengths `l` (each symbol of `data`
/// must have a length) to `out`.
inline void encode(std::vector<std::byte>& out, std::span<const std::uint8_t> data, const lengths& l) {
  const std::size_t table_at = out.size();
  out.resize(table_at + bitmap_bytes);
  std::vector<std::uint8_t> nibbles;
  for (unsigned s = 0; s < 256; ++s) {
    if (l[s] == 0) continue;
    out[table_at + s / 8] |= std::byte{static_cast<unsigned char>(1U << (s % 8))};
    nibbles.push_back(l[s]);
  }
  for (std::size_t i = 0; i < nibbles.size(); i += 2) {
    const unsigned hi = i + 1 < nibbles.size() ? nibbles[i + 1] : 0;
    out.push_back(static_cast<std::byte>(nibbles[i] | (hi << 4)));
  }
  const auto codes = canonical_codes(l);
  // Code and length in one word, in a local table the byte writes below cannot alias.
  std::array<std::uint32_t, 256> code_of{};
  std::array<std::uint64_t, 256> seen{};
  for (const std::uint8_t sym : data) ++seen[sym];
  std::uint64_t total = 0;
  for (unsigned sym = 0; sym < 256; ++sym) {
    code_of[sym] = (std::uint32_t{codes[sym]} << 4) | l[sym];
    total += seen[sym] * l[sym];
  }
  const std::size_t bits_at = out.size();
  out.resize(bits_at + static_cast<std::size_t>((total + 7) / 8));
  std::byte* p = out.data() + bits_at;
  std::uint64_t acc = 0;  // pending bits, the oldest highest
  unsigned pending = 0;
  for (const std::uint8_t sym : data) {
    const std::uint32_t c = code_of[sym];
    acc = (acc << (c & 0xf)) | (c >> 4);
    pending += c & 0xf;
    if (pending >= 32) {  // whole bytes out, four at a time: at most 46 bits ever wait
      pending -= 32;
      const auto word = static_cast<std::uint32_t>(acc >> pending);
      p[0] = static_cast<std::byte>(word >> 24);
      p[1] = static_cast<std::byte>(word >> 16);
      p[2] = static_cast<std::byte>(word >> 8);
      p[3] = static_cast<std::byte>(word);
      p += 4;
    }
  }
  while (pending >= 8) {
    pending -= 8;
    *p++ = static_cast<std::byte>((acc >> pending) & 0xff);
  }
  if (pending != 0) *p = static_cast<std::byte>((acc << (8 - pending)) & 0xff);
}

/// Decodes a block of `count` symbols from `in` (the whole of it) into `out`;
/// `base` is the offset of `in` in the message, for errors. Throws
/// `decode_error` on an invalid table or stream. The caller bounds `count`
/// (each symbol takes at least one bit, so `count <= 8 * in.size()`).
inline void decode(std::span<const std::byte> in, std::size_t count, std::size_t base,
                   std::vector<std::uint8_t>& out) {
  const auto fail = [&](std::size_t at, const std::string& what) {
    throw decode_error(base + at, "huffman: " + what);
  };
  if (in.size() < bitmap_bytes) fail(in.size(), "table truncated");
  lengths l{};
  std::size_t present = 0;
  for (unsigned s = 0; s < 256; ++s) {
    if ((std::to_integer<unsigned>(in[s / 8]) >> (s % 8)) & 1U) ++present;
  }
  const std::size_t table_end = bitmap_bytes + (present + 1) / 2;
  if (present == 0) fail(0, "empty code table");
  if (in.size() < table_end) fail(in.size(), "table truncated");
  std::size_t k = 0;
  std::uint64_t kraft = 0;  // in units of 2^-max_bits
  for (unsigned s = 0; s < 256; ++s) {
    if (((std::to_integer<unsigned>(in[s / 8]) >> (s % 8)) & 1U) == 0) continue;
    const unsigned byte = std::to_integer<unsigned>(in[bitmap_bytes + k / 2]);
    const unsigned n = (k % 2 == 0) ? (byte & 0xf) : (byte >> 4);
    if (n == 0) fail(bitmap_bytes + k / 2, "a present symbol has code length 0");
    l[s] = static_cast<std::uint8_t>(n);
    kraft += std::uint64_t{1} << (max_bits - n);
    ++k;
  }
  if (present % 2 == 1 && (std::to_integer<unsigned>(in[table_end - 1]) >> 4) != 0)
    fail(table_end - 1, "table padding is not zero");
  constexpr std::uint64_t full = std::uint64_t{1} << max_bits;
  if (kraft > full) fail(bitmap_bytes, "code lengths over-subscribe the code space");
  const bool lone = present == 1 && kraft == full / 2;
  if (kraft < full && !lone) fail(bitmap_bytes, "code lengths leave part of the code space unused");

  // Canonical decoding by length: codes of length n are [first[n], first[n] + per_length[n]),
  // and symbols sorted by (length, symbol) give each its place.
  std::array<std::uint32_t, max_bits + 1> per_length{}, first{}, offset{};
  std::array<std::uint8_t, 256> sorted{};
  for (unsigned s = 0; s < 256; ++s) ++per_length[l[s]];
  per_length[0] = 0;
  std::uint32_t code = 0, at = 0;
  for (unsigned n = 1; n <= max_bits; ++n) {
    code = (code + per_length[n - 1]) << 1;
    first[n] = code;
    offset[n] = at;
    at += per_length[n];
  }
  {
    std::array<std::uint32_t, max_bits + 1> fill = offset;
    for (unsigned s = 0; s < 256; ++s) {
      if (l[s] != 0) sorted[fill[l[s]]++] = static_cast<std::uint8_t>(s);
    }
  }
  // A table of the first `fast_bits` bits gives one or two symbols in one
  // look-up: entry = symbol | second symbol << 8 | first length << 16 |
  // both lengths << 20 (0 when only one code fits), or 0 when the code is longer.
  constexpr unsigned fast_bits = 11;
  std::array<std::uint32_t, 1U << fast_bits> fast{};
  const auto for_each_code = [&](unsigned longest, auto f) {
    for (unsigned n = 1; n <= std::min(max_bits, longest); ++n) {
      for (std::uint32_t i = 0; i < per_length[n]; ++i) f(first[n] + i, n, sorted[offset[n] + i]);
    }
  };
  for_each_code(fast_bits, [&](std::uint32_t c0, unsigned n0, std::uint8_t s0) {
    const unsigned rest = fast_bits - n0;
    for (std::uint32_t j = 0; j < (1U << rest); ++j) fast[(c0 << rest) | j] = s0 | (n0 << 16);
    for_each_code(rest, [&](std::uint32_t c1, unsigned n1, std::uint8_t s1) {
      const unsigned tail = rest - n1;
      for (std::uint32_t j = 0; j < (1U << tail); ++j) {
        fast[(((c0 << n1) | c1) << tail) | j] =
            s0 | (std::uint32_t{s1} << 8) | (n0 << 16) | ((n0 + n1) << 20);
      }
    });
  });

  const std::span<const std::byte> bits = in.subspan(table_end);
  const std::uint64_t total_bits = std::uint64_t{8} * bits.size();
  std::uint64_t used = 0;  // bits consumed
  std::size_t next_byte = 0;
  std::uint64_t buf = 0;  // the next `have` bits, the oldest highest
  unsigned have = 0;
  // Tops the buffer up to at least 57 bits: whole bytes, eight at a time
  // while they last; past the end, zero bits (their use is refused below).
  const auto refill = [&] {
    if (have == 0 && next_byte + 8 <= bits.size()) {
      for (unsigned k = 0; k < 8; ++k) buf = (buf << 8) | std::to_integer<unsigned>(bits[next_byte + k]);
      next_byte += 8;
      have = 64;
      return;
    }
    while (have <= 56) {
      const unsigned b = next_byte < bits.size() ? std::to_integer<unsigned>(bits[next_byte]) : 0;
      ++next_byte;
      buf |= std::uint64_t{b} << (56 - have);
      have += 8;
    }
  };
  const std::size_t start = out.size();
  out.resize(start + count);
  std::uint8_t* dst = out.data() + start;
  for (std::size_t i = 0; i < count;) {
    if (have <= 56) refill();
    unsigned n = 0;
    const std::uint32_t e = fast[buf >> (64 - fast_bits)];
    if (e != 0) {
      if ((e >> 20) != 0 && i + 1 < count) {
        n = e >> 20;
        dst[i++] = static_cast<std::uint8_t>(e);
        dst[i++] = static_cast<std::uint8_t>(e >> 8);
      } else {
        n = (e >> 16) & 0xf;
        dst[i++] = static_cast<std::uint8_t>(e);
      }
    } else {
      const auto top = static_cast<std::uint32_t>(buf >> (64 - max_bits));
      for (n = fast_bits + 1; n <= max_bits; ++n) {
        const std::uint32_t c = top >> (max_bits - n);
        if (c - first[n] < per_length[n]) break;
      }
      if (n > max_bits) fail(table_end + used / 8, "no code matches the bits");  // only for a lone symbol
      dst[i++] = sorted[offset[n] + ((top >> (max_bits - n)) - first[n])];
    }
    used += n;
    if (used > total_bits) fail(in.size(), "bit stream ends before the declared symbols");
    buf <<= n;
    have -= n;
  }
  if ((used + 7) / 8 != bits.size()) fail(table_end + (used + 7) / 8, "bytes left over after the bit stream");
}

}  // namespace converge::wire::huffman

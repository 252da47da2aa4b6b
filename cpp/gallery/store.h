// The gallery's rows: fixed-size blocks of kBlockRows rows, shared between
// the current state and the snapshots running searches hold.
//
// Threads: writers (put/remove) are serialised by the store's mutex, which
// snapshot() also takes for a moment; a search reads its snapshot without
// any lock. Writers never change a row a snapshot can see:
//   - a block that an older snapshot also holds is copied before one of its
//     visible rows changes (replace, or the swap that fills a removed row);
//   - new rows go past the end of the tail block, which no snapshot sees
//     (removing the last row copies a shared tail block first, so a later
//     append never lands on a row an older snapshot still reads).
// Rows stay dense: a removed row is filled with the last one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mfn {
namespace gallery {

constexpr size_t kBlockRows = 1024;

struct Block {
  explicit Block(size_t row_bytes);
  Block(const Block& other, size_t rows);  // copies the first `rows` rows
  ~Block();
  Block& operator=(const Block&) = delete;

  uint8_t* row(size_t i) { return data + i * row_bytes; }
  const uint8_t* row(size_t i) const { return data + i * row_bytes; }

  size_t row_bytes;
  uint8_t* data;                     // kBlockRows rows, 64-byte aligned
  float scale[kBlockRows];           // see encode_row()
  std::string ids[kBlockRows];
};

// What a search scans: rows [0, count), row i in blocks[i / kBlockRows].
struct Snapshot {
  std::vector<std::shared_ptr<Block>> blocks;
  size_t count = 0;

  const Block& block_of(size_t row) const { return *blocks[row / kBlockRows]; }
};

class Store {
 public:
  explicit Store(size_t row_bytes);

  std::shared_ptr<const Snapshot> snapshot() const;
  // Enrolls or replaces `id` with an encoded row (row_bytes) and its scale.
  void put(const std::string& id, const uint8_t* row, float scale);
  bool remove(const std::string& id);
  bool contains(const std::string& id) const;
  size_t size() const;
  size_t row_bytes() const { return row_bytes_; }

 private:
  // The state to change: the current one when no search holds it, else a
  // copy sharing its blocks. Under mutex_.
  Snapshot& writable_state();
  // Block b of `state`, copied first when an older snapshot holds it too.
  Block& writable_block(Snapshot& state, size_t b);
  void write_row(Block& block, size_t slot, const std::string& id, const uint8_t* row, float scale);

  const size_t row_bytes_;
  mutable std::mutex mutex_;
  std::shared_ptr<Snapshot> current_;
  std::unordered_map<std::string, size_t> rows_;  // id -> row, writers only
};

}  // namespace gallery
}  // namespace mfn

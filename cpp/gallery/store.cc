#include "gallery/store.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace mfn {
namespace gallery {

namespace {

uint8_t* allocate_rows(size_t row_bytes) {
  // row_bytes is a multiple of 64 (encode.h), so the size is too.
  void* p = std::aligned_alloc(64, row_bytes * kBlockRows);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}

}  // namespace

Block::Block(size_t bytes) : row_bytes(bytes), data(allocate_rows(bytes)), scale{} {}

Block::Block(const Block& other, size_t rows) : Block(other.row_bytes) {
  std::memcpy(data, other.data, rows * row_bytes);
  std::memcpy(scale, other.scale, rows * sizeof(float));
  for (size_t i = 0; i < rows; ++i) ids[i] = other.ids[i];
}

Block::~Block() { std::free(data); }

Store::Store(size_t row_bytes) : row_bytes_(row_bytes), current_(std::make_shared<Snapshot>()) {}

std::shared_ptr<const Snapshot> Store::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

// use_count() is exact here: new references to current_ are only made
// under mutex_, which the caller holds; a search letting go concurrently
// can only make a count smaller, which at worst copies once too often.
Snapshot& Store::writable_state() {
  if (current_.use_count() > 1) current_ = std::make_shared<Snapshot>(*current_);
  return *current_;
}

Block& Store::writable_block(Snapshot& state, size_t b) {
  std::shared_ptr<Block>& block = state.blocks[b];
  if (block.use_count() > 1) {
    size_t rows = std::min(kBlockRows, state.count - b * kBlockRows);
    block = std::make_shared<Block>(*block, rows);
  }
  return *block;
}

void Store::write_row(Block& block, size_t slot, const std::string& id, const uint8_t* row, float scale) {
  std::memcpy(block.row(slot), row, row_bytes_);
  block.scale[slot] = scale;
  block.ids[slot] = id;
}

void Store::put(const std::string& id, const uint8_t* row, float scale) {
  std::lock_guard<std::mutex> lock(mutex_);
  Snapshot& state = writable_state();
  auto found = rows_.find(id);
  if (found != rows_.end()) {
    size_t r = found->second;
    write_row(writable_block(state, r / kBlockRows), r % kBlockRows, id, row, scale);
    return;
  }
  size_t r = state.count;
  if (r % kBlockRows == 0) state.blocks.push_back(std::make_shared<Block>(row_bytes_));
  // Past the end of every snapshot: written in place even when shared.
  write_row(*state.blocks.back(), r % kBlockRows, id, row, scale);
  rows_.emplace(id, r);
  state.count = r + 1;
}

bool Store::remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = rows_.find(id);
  if (found == rows_.end()) return false;
  Snapshot& state = writable_state();
  const size_t r = found->second;
  const size_t last = state.count - 1;
  rows_.erase(found);
  if (r != last) {
    const Block& from = state.block_of(last);
    const size_t slot = last % kBlockRows;
    const std::string moved = from.ids[slot];
    Block& to = writable_block(state, r / kBlockRows);
    // `from` may be the block just copied: read it again through the state.
    const Block& source = state.block_of(last);
    write_row(to, r % kBlockRows, moved, source.row(slot), source.scale[slot]);
    rows_[moved] = r;
  }
  if (last % kBlockRows == 0) {
    state.blocks.pop_back();
  } else {
    // The freed slot must not be overwritten while a snapshot still sees it.
    writable_block(state, last / kBlockRows).ids[last % kBlockRows].clear();
  }
  state.count = last;
  return true;
}

bool Store::contains(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_.count(id) != 0;
}

size_t Store::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_->count;
}

}  // namespace gallery
}  // namespace mfn

// The public C++ API of the gallery: exact 1:N search over enrolled
// embeddings (cosine similarity = dot product of unit vectors), stored
// contiguously in float32, float16 or int8, scanned by SIMD kernels on the
// gallery's own threads. No Node: the N-API binding and the ctest suite use
// this file.
//
// Consistency: add/remove never wait for a search, and a search never waits
// for add/remove. A search sees the gallery exactly as it was when its view
// was taken (every add/remove that returned before, none that started
// after): search() takes it on entry, and view() lets a caller take it
// earlier (the addon takes it when JavaScript calls search, before the scan
// is queued). Later changes copy the blocks of rows they touch instead of
// writing into rows a running search reads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mfn/status.h"

namespace mfn {

namespace gallery {
struct Snapshot;
}  // namespace gallery

// What one search scans: the gallery as it was when the view was taken.
using GalleryView = std::shared_ptr<const gallery::Snapshot>;

enum class Precision : uint32_t { float32 = 0, float16 = 1, int8 = 2 };

// "float32", "float16", "int8".
const char* precision_name(Precision precision);

struct GalleryOptions {
  int dimensions = 512;            // 1 .. kMaxGalleryDimensions
  Precision precision = Precision::float32;
  int threads = 0;                 // scan threads; 0 = all cores
};

constexpr int kMaxGalleryDimensions = 65536;
constexpr size_t kMaxGalleryIdBytes = 1024;   // UTF-8 bytes of one id
constexpr int kMaxGalleryK = 1000;
constexpr size_t kMaxGalleryQueries = 10000;  // queries of one search call
constexpr size_t kMaxGalleryCandidates = 1 << 20;  // queries * k of one search call

struct GalleryMatch {
  std::string id;
  double similarity;               // cosine, highest first
};

struct GallerySearchOptions {
  int k = 10;                      // 1 .. kMaxGalleryK
  double min_similarity = -1.0;    // matches below are left out
  // Checked between blocks of rows: once set, the search stops with
  // Code::aborted. May be nullptr.
  const std::atomic<bool>* cancelled = nullptr;
};

class Gallery {
 public:
  static Status create(const GalleryOptions& options, std::unique_ptr<Gallery>* out);
  // Reads a file written by save(). A file that is not a gallery, of an
  // unknown version, truncated or damaged (checksum) -> Code::gallery_file_invalid;
  // one that cannot be read -> Code::io_error. `threads` as in GalleryOptions.
  static Status load(const std::string& path, int threads, std::unique_ptr<Gallery>* out);
  ~Gallery();

  // Enrolls `id` (replacing the vector it had). The embedding (dimensions()
  // floats, any non-zero finite length) is normalised to unit length, then
  // stored in the gallery's precision. Any thread; writers are serialised.
  Status add(const std::string& id, const float* embedding, size_t length);
  // True when `id` was enrolled (and is now gone).
  bool remove(const std::string& id);
  bool contains(const std::string& id) const;
  size_t size() const;
  int dimensions() const;
  Precision precision() const;
  int threads() const;
  // Bytes of storage per enrolled vector: the row (padded) plus its scale,
  // without the id.
  size_t row_bytes() const;

  // Top-k of each of `count` queries (count * dimensions() floats, row after
  // row) in one pass over the gallery. results->at(q) is highest first; ties
  // go to the earlier enrolled row. Any thread; concurrent searches take
  // turns on the scan threads.
  Status search(const float* queries, size_t count, const GallerySearchOptions& options,
                std::vector<std::vector<GalleryMatch>>* results) const;
  // The same over an earlier view of this gallery.
  Status search(const GalleryView& view, const float* queries, size_t count, const GallerySearchOptions& options,
                std::vector<std::vector<GalleryMatch>>* results) const;
  // The gallery as it is now, for search(). Cheap; any thread.
  GalleryView view() const;

  // Writes the gallery (a snapshot, see above) to `path` atomically: a
  // temporary file beside it, fsync, rename, fsync of the directory, so a
  // crash leaves either the old file or the new one.
  Status save(const std::string& path) const;
  Status save(const GalleryView& view, const std::string& path) const;

 private:
  Gallery();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mfn

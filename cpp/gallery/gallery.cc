// mfn::Gallery: argument checks, encoding, and the scan on the gallery's
// own thread pool. add/remove run on the caller's thread (the JavaScript
// thread in the addon: they take the store's mutex for at most one block
// copy, never for a scan); search and save run on whichever thread calls
// them (a libuv pool thread in the addon).
#include "mfn/gallery.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <string>

#include "cpu/thread_pool.h"
#include "mfn/engine.h"
#include "gallery/encode.h"
#include "gallery/file_format.h"
#include "gallery/kernels.h"
#include "gallery/scan.h"
#include "gallery/store.h"

namespace mfn {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::float32: return "float32";
    case Precision::float16: return "float16";
    case Precision::int8: return "int8";
  }
  return "float32";
}

struct Gallery::Impl {
  int dims = 0;
  Precision precision = Precision::float32;
  std::unique_ptr<gallery::Store> store;
  const gallery::Kernels* kernels = nullptr;
  // ThreadPool::run() takes one caller at a time: concurrent searches take
  // turns, each using every scan thread.
  std::mutex pool_mutex;
  std::unique_ptr<cpu::ThreadPool> pool;
};

namespace {

// A view of another gallery would be scanned with the wrong row size.
Status check_view(const GalleryView& view, size_t row_bytes) {
  if (!view || (!view->blocks.empty() && view->blocks[0]->row_bytes != row_bytes)) {
    return Status(Code::invalid_argument, "the view is not one of this gallery");
  }
  return Status::ok();
}

}  // namespace

Gallery::Gallery() : impl_(std::make_unique<Impl>()) {}
Gallery::~Gallery() = default;

Status Gallery::create(const GalleryOptions& options, std::unique_ptr<Gallery>* out) {
  if (options.dimensions < 1 || options.dimensions > kMaxGalleryDimensions) {
    return Status(Code::invalid_argument,
                  "dimensions must be between 1 and " + std::to_string(kMaxGalleryDimensions));
  }
  int threads = 0;
  MFN_RETURN_IF_ERROR(cpu::resolve_threads(options.threads, &threads));
  std::unique_ptr<Gallery> g(new Gallery());
  g->impl_->dims = options.dimensions;
  g->impl_->precision = options.precision;
  g->impl_->store = std::make_unique<gallery::Store>(gallery::row_bytes(options.precision, options.dimensions));
  g->impl_->kernels = &gallery::best_kernels();
  g->impl_->pool = std::make_unique<cpu::ThreadPool>(threads);
  *out = std::move(g);
  return Status::ok();
}

Status Gallery::load(const std::string& path, int threads, std::unique_ptr<Gallery>* out) {
  int resolved = 0;
  MFN_RETURN_IF_ERROR(cpu::resolve_threads(threads, &resolved));
  GalleryOptions options;
  std::unique_ptr<gallery::Store> store;
  try {
    MFN_RETURN_IF_ERROR(gallery::read_gallery_file(path, &options.precision, &options.dimensions, &store));
  } catch (const std::bad_alloc&) {
    return Status(Code::out_of_memory, "not enough memory to load " + path);
  }
  options.threads = resolved;
  MFN_RETURN_IF_ERROR(create(options, out));
  (*out)->impl_->store = std::move(store);
  return Status::ok();
}

Status Gallery::add(const std::string& id, const float* embedding, size_t length) {
  if (id.empty() || id.size() > kMaxGalleryIdBytes) {
    return Status(Code::invalid_argument,
                  "an id must have 1 to " + std::to_string(kMaxGalleryIdBytes) + " bytes of UTF-8");
  }
  if (length != static_cast<size_t>(impl_->dims)) {
    return Status(Code::dimension_mismatch, "expected an embedding of " + std::to_string(impl_->dims) +
                                                " values but received " + std::to_string(length));
  }
  std::vector<double> unit;
  if (!gallery::unit_vector(embedding, impl_->dims, &unit)) {
    return Status(Code::invalid_embedding, "the embedding has a value that is not finite or is all zeros");
  }
  // Encoded outside the store's lock.
  std::vector<uint8_t> row(impl_->store->row_bytes());
  const float scale = gallery::encode_row(impl_->precision, unit, row.data());
  try {
    impl_->store->put(id, row.data(), scale);
  } catch (const std::bad_alloc&) {
    return Status(Code::out_of_memory, "not enough memory to add a vector to the gallery");
  }
  return Status::ok();
}

bool Gallery::remove(const std::string& id) {
  try {
    return impl_->store->remove(id);
  } catch (const std::bad_alloc&) {
    // The copy of a shared block failed: the store is unchanged.
    return false;
  }
}

bool Gallery::contains(const std::string& id) const { return impl_->store->contains(id); }
size_t Gallery::size() const { return impl_->store->size(); }
int Gallery::dimensions() const { return impl_->dims; }
Precision Gallery::precision() const { return impl_->precision; }
int Gallery::threads() const { return impl_->pool->size(); }
size_t Gallery::row_bytes() const { return impl_->store->row_bytes() + sizeof(float); }

GalleryView Gallery::view() const { return impl_->store->snapshot(); }

Status Gallery::search(const float* queries, size_t count, const GallerySearchOptions& options,
                       std::vector<std::vector<GalleryMatch>>* results) const {
  return search(view(), queries, count, options, results);
}

Status Gallery::search(const GalleryView& snapshot, const float* queries, size_t count,
                       const GallerySearchOptions& options, std::vector<std::vector<GalleryMatch>>* results) const {
  MFN_RETURN_IF_ERROR(check_view(snapshot, impl_->store->row_bytes()));
  if (options.k < 1 || options.k > kMaxGalleryK) {
    return Status(Code::invalid_argument, "k must be between 1 and " + std::to_string(kMaxGalleryK));
  }
  if (count > kMaxGalleryQueries) {
    return Status(Code::invalid_argument,
                  "at most " + std::to_string(kMaxGalleryQueries) + " queries per search");
  }
  if (count * static_cast<size_t>(options.k) > kMaxGalleryCandidates) {
    return Status(Code::invalid_argument,
                  "queries * k must be at most " + std::to_string(kMaxGalleryCandidates) + " per search");
  }
  if (!(options.min_similarity >= -1.0 && options.min_similarity <= 1.0)) {
    return Status(Code::invalid_argument, "minSimilarity must be between -1 and 1");
  }
  try {
    gallery::EncodedQueries encoded;
    MFN_RETURN_IF_ERROR(gallery::encode_queries(impl_->precision, impl_->dims, queries, count, &encoded));
    gallery::ScanRequest request;
    request.snapshot = snapshot.get();
    request.queries = &encoded;
    request.count = count;
    request.padded_dims = static_cast<int>(gallery::padded_dims(impl_->dims));
    request.precision = impl_->precision;
    request.kernels = impl_->kernels;
    request.k = options.k;
    request.min_similarity = options.min_similarity;
    request.cancelled = options.cancelled;
    std::vector<std::vector<gallery::Candidate>> found;
    {
      std::lock_guard<std::mutex> lock(impl_->pool_mutex);
      MFN_RETURN_IF_ERROR(gallery::scan(request, *impl_->pool, &found));
    }
    results->assign(count, {});
    for (size_t q = 0; q < count; ++q) {
      for (const gallery::Candidate& c : found[q]) {
        (*results)[q].push_back({snapshot->block_of(c.row).ids[c.row % gallery::kBlockRows], c.score});
      }
    }
  } catch (const std::bad_alloc&) {
    return Status(Code::out_of_memory, "not enough memory for the search");
  }
  return Status::ok();
}

Status Gallery::save(const std::string& path) const { return save(view(), path); }

Status Gallery::save(const GalleryView& snapshot, const std::string& path) const {
  MFN_RETURN_IF_ERROR(check_view(snapshot, impl_->store->row_bytes()));
  try {
    return gallery::write_gallery_file(path, impl_->precision, impl_->dims, *snapshot);
  } catch (const std::bad_alloc&) {
    return Status(Code::out_of_memory, "not enough memory to save " + path);
  }
}

}  // namespace mfn

#include "cuda/staging.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace mfn_cuda {
namespace {

constexpr size_t kPipelineChunk = 64;
// Regions of the same buffer an image is tried against (the latest ones):
// bounds plan_staging at O(n) for a call of many faces of one photo.
constexpr size_t kMergeCandidates = 16;

bool same_pixels(const mfn_image& a, const mfn_image& b) {
  return a.data == b.data && a.row_stride == b.row_stride && a.width == b.width && a.height == b.height &&
         a.channels == b.channels;
}

Rect bounding(const Rect& a, const Rect& b) {
  Rect r;
  r.x0 = std::min(a.x0, b.x0);
  r.y0 = std::min(a.y0, b.y0);
  r.w = std::max(a.x0 + a.w, b.x0 + b.w) - r.x0;
  r.h = std::max(a.y0 + a.h, b.y0 + b.h) - r.y0;
  return r;
}

size_t area(const Rect& r) { return static_cast<size_t>(r.w) * r.h; }

}  // namespace

Error check_image(const mfn_image& im, size_t index) {
  const std::string which = "image " + std::to_string(index);
  if (!im.data) return make_error(MFN_E_INVALID_ARGUMENT, which + ": no pixel data");
  if (im.width <= 0 || im.height <= 0 || im.width > 65536 || im.height > 65536) {
    return make_error(MFN_E_INVALID_DIMENSIONS,
                      which + ": invalid size " + std::to_string(im.width) + "x" + std::to_string(im.height));
  }
  if (im.channels != 3 && im.channels != 4) {
    return make_error(MFN_E_INVALID_CHANNELS, which + ": " + std::to_string(im.channels) + " channels (3 or 4 expected)");
  }
  if (im.order != MFN_ORDER_RGB && im.order != MFN_ORDER_BGR) {
    return make_error(MFN_E_INVALID_ARGUMENT, which + ": invalid pixel order");
  }
  if (im.border != MFN_BORDER_CLAMP && im.border != MFN_BORDER_ZERO) {
    return make_error(MFN_E_INVALID_ARGUMENT, which + ": invalid border");
  }
  if (im.row_stride < static_cast<size_t>(im.width) * im.channels) {
    return make_error(MFN_E_INVALID_ARGUMENT, which + ": row stride smaller than a row");
  }
  for (float t : im.transform) {
    if (!std::isfinite(t)) return make_error(MFN_E_INVALID_ARGUMENT, which + ": non-finite transform");
  }
  return Error::none();
}

Rect sampled_rect(const mfn_image& im, int out_w, int out_h) {
  const float* t = im.transform;
  double min_x = HUGE_VAL, max_x = -HUGE_VAL, min_y = HUGE_VAL, max_y = -HUGE_VAL;
  for (int corner = 0; corner < 4; ++corner) {
    const double dx = (corner & 1) ? out_w - 1 : 0;
    const double dy = (corner & 2) ? out_h - 1 : 0;
    const double sx = double(t[0]) * dx + double(t[1]) * dy + t[2];
    const double sy = double(t[3]) * dx + double(t[4]) * dy + t[5];
    min_x = std::min(min_x, sx), max_x = std::max(max_x, sx);
    min_y = std::min(min_y, sy), max_y = std::max(max_y, sy);
  }
  const auto clip = [](double v, int size) { return static_cast<int>(std::min(std::max(v, 0.0), double(size - 1))); };
  Rect r;
  r.x0 = clip(std::floor(min_x) - 1, im.width);
  r.y0 = clip(std::floor(min_y) - 1, im.height);
  r.w = clip(std::floor(max_x) + 2, im.width) - r.x0 + 1;
  r.h = clip(std::floor(max_y) + 2, im.height) - r.y0 + 1;
  return r;
}

StagingPlan plan_staging(const mfn_image* images, const Rect* rects, size_t count) {
  StagingPlan plan;
  plan.region_of.resize(count);
  std::unordered_map<const uint8_t*, std::vector<int>> by_data;  // regions of each buffer, oldest first
  for (size_t i = 0; i < count; ++i) {
    std::vector<int>& mine = by_data[images[i].data];
    int chosen = -1;
    for (size_t k = mine.size(); k-- > 0 && mine.size() - k <= kMergeCandidates;) {
      StagedRegion& region = plan.regions[mine[k]];
      if (!same_pixels(images[region.image], images[i])) continue;
      const Rect joined = bounding(region.rect, rects[i]);
      if (area(joined) <= area(region.rect) + area(rects[i])) {
        region.rect = joined;
        chosen = mine[k];
        break;
      }
    }
    if (chosen < 0) {
      chosen = static_cast<int>(plan.regions.size());
      plan.regions.push_back({i, rects[i]});
      mine.push_back(chosen);
    }
    plan.region_of[i] = chosen;
  }
  for (const StagedRegion& region : plan.regions) plan.bytes += rect_bytes(region.rect, images[region.image].channels);
  return plan;
}

int bucket_for(int count, int max_batch) {
  int bucket = 1;
  while (bucket < count) {
    if (bucket >= 2 && bucket + bucket / 2 >= count) {
      bucket += bucket / 2;
      break;
    }
    bucket *= 2;
  }
  return std::min(bucket, max_batch);
}

size_t chunk_size(size_t n, int max_batch) {
  const size_t most = static_cast<size_t>(max_batch);
  if (n <= 2 * kPipelineChunk) return std::min(n == 0 ? size_t(1) : n, most);
  const size_t quarter = std::max((n + 3) / 4, kPipelineChunk);
  // Round up to a bucket so that full chunks need no padding.
  const int bucket = bucket_for(static_cast<int>(std::min<size_t>(quarter, most)), max_batch);
  return std::min(static_cast<size_t>(bucket), most);
}

std::vector<PipelineStep> pipeline_steps(const std::vector<size_t>& image_bytes, int max_batch,
                                         size_t max_chunk_bytes) {
  const size_t n = image_bytes.size();
  const size_t chunk = chunk_size(n, max_batch);
  std::vector<PipelineStep> steps;
  int which = 0;
  size_t i = 0;
  while (i < n) {
    size_t count = 0, bytes = 0;
    while (i + count < n && count < chunk) {
      const size_t b = image_bytes[i + count];
      if (count > 0 && bytes + b > max_chunk_bytes) break;
      bytes += b;
      ++count;
    }
    steps.push_back({PipelineStep::finish, which});
    steps.push_back({PipelineStep::submit, which, i, count});
    i += count;
    which ^= 1;
  }
  // The older chunk sits in the slot to use next.
  steps.push_back({PipelineStep::finish, which});
  steps.push_back({PipelineStep::finish, which ^ 1});
  return steps;
}

}  // namespace mfn_cuda

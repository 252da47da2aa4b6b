// Turning caller embeddings into stored rows and encoded queries, the same
// way on every ISA (portable code, so a file saved on one machine scores the
// same on another). Runs on the calling thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/half.h"
#include "mfn/gallery.h"

namespace mfn {
namespace gallery {

// Values per row after padding to kernels.h's kDimAlign.
size_t padded_dims(int dims);
// Bytes of one stored row (padded; a multiple of 64).
size_t row_bytes(Precision precision, int dims);

// x / |x| in double, or false when x has a non-finite value or is zero.
bool unit_vector(const float* x, int dims, std::vector<double>* out);

// Writes the stored row of unit vector `u` into `row` (row_bytes() bytes,
// padding zeroed) and returns its scale: the factor that turns the row's
// dot product into a cosine. 1 for float32 and float16; for int8 the row is
// round(u * 127 / max|u|) and the scale 1 / |row| (so that scores are
// cosines of the quantised vectors, see README "Gallery").
float encode_row(Precision precision, const std::vector<double>& u, uint8_t* row);

// A query as the kernels read it: double (float32 rows), float (float16
// rows) or int16 (int8 rows), padded; `scale` turns dot products into
// cosines. `data` is 64-byte aligned.
struct EncodedQueries {
  std::vector<uint8_t> storage;
  uint8_t* data = nullptr;
  size_t stride = 0;               // bytes between queries
  std::vector<double> scale;       // per query
};

// Encodes `count` queries (count * dims floats); Code::invalid_embedding
// names the first bad one.
Status encode_queries(Precision precision, int dims, const float* queries, size_t count, EncodedQueries* out);

}  // namespace gallery
}  // namespace mfn

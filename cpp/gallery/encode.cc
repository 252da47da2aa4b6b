#include "gallery/encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "gallery/kernels.h"

namespace mfn {
namespace gallery {

namespace {

size_t element_bytes(Precision precision) {
  switch (precision) {
    case Precision::float32: return 4;
    case Precision::float16: return 2;
    case Precision::int8: return 1;
  }
  return 4;
}

// Largest int16 magnitude of a query such that sum |q_i * g_i| over `dims`
// values with |g_i| <= 127 always fits int32 (the kernels' accumulators).
double int16_query_max(int dims) {
  return std::min(32767.0, std::floor(2147483647.0 / (127.0 * dims)));
}

template <typename T>
void quantise(const double* u, int dims, double max_code, T* out, double* norm) {
  double peak = 0;
  for (int i = 0; i < dims; ++i) peak = std::max(peak, std::fabs(u[i]));
  double f = max_code / peak;
  double sum = 0;
  for (int i = 0; i < dims; ++i) {
    double v = std::nearbyint(u[i] * f);
    out[i] = static_cast<T>(v);
    sum += v * v;
  }
  *norm = std::sqrt(sum);
}

}  // namespace

size_t padded_dims(int dims) {
  return (static_cast<size_t>(dims) + kDimAlign - 1) / kDimAlign * kDimAlign;
}

size_t row_bytes(Precision precision, int dims) { return padded_dims(dims) * element_bytes(precision); }

bool unit_vector(const float* x, int dims, std::vector<double>* out) {
  double sum = 0;
  for (int i = 0; i < dims; ++i) {
    if (!std::isfinite(x[i])) return false;
    sum += static_cast<double>(x[i]) * x[i];
  }
  if (!(sum > 0)) return false;
  double inv = 1.0 / std::sqrt(sum);
  out->resize(dims);
  for (int i = 0; i < dims; ++i) (*out)[i] = x[i] * inv;
  return true;
}

float encode_row(Precision precision, const std::vector<double>& u, uint8_t* row) {
  const int dims = static_cast<int>(u.size());
  std::memset(row, 0, row_bytes(precision, dims));
  switch (precision) {
    case Precision::float32: {
      float* out = reinterpret_cast<float*>(row);
      for (int i = 0; i < dims; ++i) out[i] = static_cast<float>(u[i]);
      return 1.0f;
    }
    case Precision::float16: {
      uint16_t* out = reinterpret_cast<uint16_t*>(row);
      for (int i = 0; i < dims; ++i) out[i] = float_to_half(static_cast<float>(u[i]));
      return 1.0f;
    }
    case Precision::int8: {
      double norm = 0;
      quantise(u.data(), dims, 127.0, reinterpret_cast<int8_t*>(row), &norm);
      return static_cast<float>(1.0 / norm);
    }
  }
  return 1.0f;
}

Status encode_queries(Precision precision, int dims, const float* queries, size_t count, EncodedQueries* out) {
  // Queries are one size wider than rows: double, float or int16.
  const size_t stride = 2 * row_bytes(precision, dims);
  out->stride = stride;
  out->storage.assign(stride * count + 64, 0);
  uintptr_t base = reinterpret_cast<uintptr_t>(out->storage.data());
  out->data = out->storage.data() + ((64 - base % 64) % 64);
  out->scale.assign(count, 1.0);
  std::vector<double> u;
  for (size_t q = 0; q < count; ++q) {
    if (!unit_vector(queries + q * dims, dims, &u)) {
      return Status(Code::invalid_embedding, "query " + std::to_string(q) +
                                                 " has a value that is not finite or is all zeros");
    }
    uint8_t* dst = out->data + q * stride;
    switch (precision) {
      case Precision::float32: std::memcpy(dst, u.data(), dims * sizeof(double)); break;
      case Precision::float16: {
        float* f = reinterpret_cast<float*>(dst);
        for (int i = 0; i < dims; ++i) f[i] = static_cast<float>(u[i]);
        break;
      }
      case Precision::int8: {
        double norm = 0;
        quantise(u.data(), dims, int16_query_max(dims), reinterpret_cast<int16_t*>(dst), &norm);
        out->scale[q] = 1.0 / norm;
        break;
      }
    }
  }
  return Status::ok();
}

}  // namespace gallery
}  // namespace mfn

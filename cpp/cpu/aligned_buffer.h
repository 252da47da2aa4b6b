// A fixed-size float array aligned to 64 bytes (a cache line, an AVX-512
// vector), zero-initialised. Allocated once at backend creation.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>

namespace mfn {
namespace cpu {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  ~AlignedBuffer() { release(); }
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // Discards the contents. Returns false when the allocation fails.
  bool resize(size_t n) {
    release();
    if (n == 0) return true;
    data_ = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(kAlign), std::nothrow));
    if (data_ == nullptr) return false;
    std::memset(data_, 0, n * sizeof(float));
    size_ = n;
    return true;
  }

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kAlign = 64;
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t(kAlign), std::nothrow);
    data_ = nullptr;
    size_ = 0;
  }
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cpu
}  // namespace mfn

// CRC-32C with the SSE4.2 crc32 instruction (compiled with -msse4.2; called
// only after crc32c.cc has checked the CPU has it).
#if defined(MFN_X86)

#include <nmmintrin.h>

#include <cstring>

#include "gallery/crc32c.h"

namespace mfn {
namespace gallery {

uint32_t crc32c_sse42(uint32_t crc, const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t c = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; size > 0; --size, ++p) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}

}  // namespace gallery
}  // namespace mfn

#endif  // MFN_X86

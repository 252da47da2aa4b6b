// CRC-32C (Castagnoli), the checksum of gallery files: the SSE4.2 crc32
// instruction where the CPU has it (several GB/s, so that a 2 GB gallery
// saves and loads at disk speed), a table otherwise. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mfn {
namespace gallery {

// Extends `crc` (0 to start) with `size` bytes.
uint32_t crc32c(uint32_t crc, const void* data, size_t size);
// The table version, for testing the instruction against it.
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t size);

}  // namespace gallery
}  // namespace mfn

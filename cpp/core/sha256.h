// SHA-256 (FIPS 180-4) of a byte buffer, for the manifest's checksum of the
// model file. Pure function, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mfn {

// Lower-case hex digest (64 characters).
std::string sha256_hex(const uint8_t* data, size_t size);

// The same without the SHA-NI path, for tests comparing the two.
std::string sha256_hex_portable(const uint8_t* data, size_t size);

}  // namespace mfn

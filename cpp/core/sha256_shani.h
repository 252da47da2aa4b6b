// SHA-256 block compression with the x86 SHA extensions (SHA-NI), for
// sha256.cc; about five times the portable code's speed where the CPU has
// them (our AMD EPYC machines do). The instructions are enabled on that one
// function (a target attribute); callers check sha_ni_available() first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mfn {

bool sha_ni_available();

// state: a..h; blocks of 64 bytes.
void sha256_blocks_sha_ni(uint32_t state[8], const uint8_t* data, size_t blocks, const uint32_t round_constants[64]);

}  // namespace mfn

// The gallery file (version 1), little-endian:
//   0   char[8]  magic "MFNGALRY"
//   8   u32      version (1)
//   12  u32      precision (0 float32, 1 float16, 2 int8)
//   16  u32      dimensions
//   20  u32      0
//   24  u64      count
//   32  u64      bytes of the id section
//   40  rows     count * row_bytes, each row as stored (padded, encode.h)
//       f32      count scales (encode_row)
//       ids      count * (u32 length, UTF-8 bytes)
//   end u32      CRC-32C of every byte before it
// Runs on the calling thread (a libuv pool thread in the addon).
#pragma once

#include <memory>
#include <string>

#include "gallery/store.h"
#include "mfn/gallery.h"

namespace mfn {
namespace gallery {

constexpr uint32_t kFileVersion = 1;

// Writes `snapshot` to `path` through a temporary file in the same
// directory (fsync, rename, fsync of the directory). Code::io_error with
// the system's reason when the file system refuses.
Status write_gallery_file(const std::string& path, Precision precision, int dims, const Snapshot& snapshot);

// Reads a gallery file into a new store. Code::gallery_file_invalid for a
// file that is not one (magic), has another version, a size that does not
// match its header, a bad id or a checksum mismatch; Code::io_error when it
// cannot be read. Allocates only what the file's size allows.
Status read_gallery_file(const std::string& path, Precision* precision, int* dims, std::unique_ptr<Store>* store);

}  // namespace gallery
}  // namespace mfn

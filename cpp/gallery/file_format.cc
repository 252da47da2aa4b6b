#include "gallery/file_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "gallery/crc32c.h"
#include "gallery/encode.h"

namespace mfn {
namespace gallery {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "gallery files are little-endian");

constexpr char kMagic[8] = {'M', 'F', 'N', 'G', 'A', 'L', 'R', 'Y'};
constexpr size_t kHeaderBytes = 40;

Status io_error(const std::string& what, const std::string& path, int error) {
  return Status(Code::io_error, what + " " + path + ": " + std::strerror(error));
}

Status invalid(const std::string& path, const std::string& why) {
  return Status(Code::gallery_file_invalid, path + " is not a usable gallery file: " + why);
}

template <typename T>
void put_le(std::vector<uint8_t>* out, T value) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&value);
  out->insert(out->end(), p, p + sizeof(T));
}

template <typename T>
T get_le(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Writes everything and extends the running checksum.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  bool write(const void* data, size_t size) {
    crc_ = crc32c(crc_, data, size);
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  uint32_t crc() const { return crc_; }

 private:
  int fd_;
  uint32_t crc_ = 0;
};

// Reads exactly `size` bytes and extends the running checksum.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}
  bool read(void* data, size_t size) {
    uint8_t* p = static_cast<uint8_t*>(data);
    size_t left = size;
    while (left > 0) {
      ssize_t n = ::read(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      left -= static_cast<size_t>(n);
    }
    crc_ = crc32c(crc_, data, size);
    return true;
  }
  uint32_t crc() const { return crc_; }

 private:
  int fd_;
  uint32_t crc_ = 0;
};

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool write_contents(Writer& w, Precision precision, int dims, const Snapshot& snap) {
  const size_t row_size = row_bytes(precision, dims);
  std::vector<uint8_t> ids;
  for (size_t r = 0; r < snap.count; ++r) {
    const std::string& id = snap.block_of(r).ids[r % kBlockRows];
    put_le<uint32_t>(&ids, static_cast<uint32_t>(id.size()));
    ids.insert(ids.end(), id.begin(), id.end());
  }
  std::vector<uint8_t> header(kMagic, kMagic + 8);
  put_le<uint32_t>(&header, kFileVersion);
  put_le<uint32_t>(&header, static_cast<uint32_t>(precision));
  put_le<uint32_t>(&header, static_cast<uint32_t>(dims));
  put_le<uint32_t>(&header, 0);
  put_le<uint64_t>(&header, snap.count);
  put_le<uint64_t>(&header, ids.size());
  bool ok = w.write(header.data(), header.size());
  for (size_t first = 0; ok && first < snap.count; first += kBlockRows) {
    ok = w.write(snap.block_of(first).row(0), std::min(kBlockRows, snap.count - first) * row_size);
  }
  for (size_t first = 0; ok && first < snap.count; first += kBlockRows) {
    ok = w.write(snap.block_of(first).scale, std::min(kBlockRows, snap.count - first) * sizeof(float));
  }
  ok = ok && w.write(ids.data(), ids.size());
  uint32_t crc = w.crc();
  return ok && w.write(&crc, sizeof(crc));
}

}  // namespace

Status write_gallery_file(const std::string& path, Precision precision, int dims, const Snapshot& snapshot) {
  static std::atomic<unsigned> counter{0};
  const std::string temp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create", temp, errno);
  Writer writer(fd);
  Status status;
  if (!write_contents(writer, precision, dims, snapshot)) status = io_error("cannot write", temp, errno);
  if (status.is_ok() && ::fsync(fd) != 0) status = io_error("cannot flush", temp, errno);
  if (::close(fd) != 0 && status.is_ok()) status = io_error("cannot close", temp, errno);
  if (!status.is_ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    return io_error("cannot rename the new file to", path, error);
  }
  // The rename itself is durable only once the directory is flushed.
  const std::string dir = directory_of(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Status::ok();
}

Status read_gallery_file(const std::string& path, Precision* precision, int* dims, std::unique_ptr<Store>* store) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path, errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return io_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return invalid(path, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  Reader reader(fd);
  uint8_t header[kHeaderBytes];
  if (file_size < kHeaderBytes + 4 || !reader.read(header, kHeaderBytes)) return invalid(path, "too short");
  if (std::memcmp(header, kMagic, 8) != 0) return invalid(path, "no gallery signature");
  const uint32_t version = get_le<uint32_t>(header + 8);
  if (version != kFileVersion) {
    return invalid(path, "version " + std::to_string(version) + " (this build reads version " +
                             std::to_string(kFileVersion) + ")");
  }
  const uint32_t prec = get_le<uint32_t>(header + 12);
  const uint32_t d = get_le<uint32_t>(header + 16);
  const uint64_t count = get_le<uint64_t>(header + 24);
  const uint64_t ids_bytes = get_le<uint64_t>(header + 32);
  if (prec > 2) return invalid(path, "unknown precision " + std::to_string(prec));
  if (d < 1 || d > static_cast<uint32_t>(kMaxGalleryDimensions)) {
    return invalid(path, "dimensions " + std::to_string(d));
  }
  const Precision p = static_cast<Precision>(prec);
  const uint64_t row_size = row_bytes(p, static_cast<int>(d));
  // Every size is checked against the file's before anything is allocated.
  const uint64_t body = file_size - kHeaderBytes - 4;
  if (count > body / (row_size + 4 + 4) || ids_bytes != body - count * (row_size + 4)) {
    return invalid(path, "its size does not match its header (truncated?)");
  }

  auto result = std::make_unique<Store>(row_size);
  std::vector<float> scales(count);
  std::vector<uint8_t> ids(ids_bytes);
  // Rows come first in the file, scales and ids after: read the rows in
  // blocks into a staging copy, then everything else, then build the store.
  std::vector<std::vector<uint8_t>> staged;
  for (uint64_t first = 0; first < count; first += kBlockRows) {
    const uint64_t n = std::min<uint64_t>(kBlockRows, count - first);
    staged.emplace_back(n * row_size);
    if (!reader.read(staged.back().data(), n * row_size)) return invalid(path, "truncated rows");
  }
  if (!reader.read(scales.data(), count * sizeof(float)) || !reader.read(ids.data(), ids_bytes)) {
    return invalid(path, "truncated");
  }
  const uint32_t computed = reader.crc();
  uint32_t stored = 0;
  if (!reader.read(&stored, sizeof(stored))) return invalid(path, "truncated checksum");
  if (stored != computed) return invalid(path, "checksum mismatch (damaged)");

  size_t at = 0;
  for (uint64_t r = 0; r < count; ++r) {
    if (ids_bytes - at < 4) return invalid(path, "id section too short");
    const uint32_t length = get_le<uint32_t>(ids.data() + at);
    at += 4;
    if (length == 0 || length > kMaxGalleryIdBytes || length > ids_bytes - at) {
      return invalid(path, "id " + std::to_string(r) + " has a bad length");
    }
    std::string id(reinterpret_cast<const char*>(ids.data() + at), length);
    at += length;
    if (result->contains(id)) return invalid(path, "id \"" + id + "\" appears twice");
    result->put(id, staged[r / kBlockRows].data() + (r % kBlockRows) * row_size, scales[r]);
    if (r % kBlockRows == kBlockRows - 1) std::vector<uint8_t>().swap(staged[r / kBlockRows]);
  }
  if (at != ids_bytes) return invalid(path, "id section has trailing bytes");
  *precision = p;
  *dims = static_cast<int>(d);
  *store = std::move(result);
  return Status::ok();
}

}  // namespace gallery
}  // namespace mfn

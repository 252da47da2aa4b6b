// Regular files only, checked without a blocking open: stat() first refuses
// anything that is not a regular file (opening a FIFO for reading waits for
// a writer; opening some devices has side effects), then the file is opened
// with O_NONBLOCK and fstat() confirms it is still the same regular file, in
// case the path was swapped in between.
#include "core/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mfn {
namespace {

Status file_error(const char* what, const std::string& path, const std::string& why) {
  return Status(Code::model_invalid, std::string(what) + " '" + path + "' " + why);
}

Status check_kind(const struct stat& st, const char* what, const std::string& path, uint64_t max_bytes) {
  if (S_ISDIR(st.st_mode)) return file_error(what, path, "is a directory, not a file");
  if (!S_ISREG(st.st_mode)) return file_error(what, path, "is not a regular file (a FIFO, device or socket)");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return file_error(what, path, "is larger than " + std::to_string(max_bytes >> 20) + " MiB");
  }
  return Status::ok();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Status read_regular_file(const std::string& path, const char* what, uint64_t max_bytes, std::vector<uint8_t>* out) {
  out->clear();
  if (path.find('\0') != std::string::npos) {
    return Status(Code::invalid_argument, std::string(what) + " path contains a NUL byte");
  }
  if (path.empty()) return Status(Code::invalid_argument, std::string(what) + " path is empty");
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) {
    return file_error(what, path, std::string("cannot be opened: ") + std::strerror(errno));
  }
  MFN_RETURN_IF_ERROR(check_kind(before, what, path, max_bytes));

  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return file_error(what, path, std::string("cannot be opened: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return file_error(what, path, std::string("cannot be read: ") + std::strerror(errno));
  MFN_RETURN_IF_ERROR(check_kind(st, what, path, max_bytes));
  if (st.st_dev != before.st_dev || st.st_ino != before.st_ino) return file_error(what, path, "changed while opening");

  // Read to end of file, up to the limit: the size may change under us.
  out->resize(static_cast<size_t>(st.st_size));
  size_t filled = 0;
  for (;;) {
    if (filled == out->size()) {
      if (out->size() >= max_bytes) {
        uint8_t probe;
        const ssize_t extra = ::read(fd.get(), &probe, 1);
        if (extra == 0) break;
        if (extra > 0) return file_error(what, path, "grew beyond the size limit while being read");
        if (errno == EINTR) continue;
        return file_error(what, path, std::string("cannot be read: ") + std::strerror(errno));
      }
      out->resize(std::min<uint64_t>(max_bytes, out->size() + (out->size() >> 1) + 4096));
    }
    const ssize_t got = ::read(fd.get(), out->data() + filled, out->size() - filled);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      return file_error(what, path, std::string("cannot be read: ") + std::strerror(errno));
    }
    filled += static_cast<size_t>(got);
  }
  out->resize(filled);
  return Status::ok();
}

}  // namespace mfn

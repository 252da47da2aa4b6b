// Linked only into the prebuilt binaries (MFN_PORTABLE=ON), which carry a
// static libstdc++. GCC 12's libstdc++.a, built against glibc 2.36, references
// arc4random (std::random_device, pulled in by its COW-string instantiations
// although mfn never uses it), which alone would raise the glibc the binaries
// need from 2.34 to 2.36. This hidden definition satisfies that reference with
// getrandom (glibc 2.25). Like glibc's own, it terminates the process when the
// system has no source of randomness at all.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
  uint32_t value;
  ssize_t got;
  do {
    got = getrandom(&value, sizeof value, 0);
  } while (got < 0 && errno == EINTR);
  if (got == (ssize_t)sizeof value) return value;

  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    got = read(fd, &value, sizeof value);
    close(fd);
    if (got == (ssize_t)sizeof value) return value;
  }
  abort();
}

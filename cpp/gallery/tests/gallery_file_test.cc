// Gallery files: a saved gallery loads with the same results in every
// precision; a damaged, truncated, foreign or newer file is
// gallery_file_invalid; a missing file or directory is io_error; a failed
// save leaves the old file as it was.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "mfn/gallery.h"
#include "tests/check.h"

using namespace mfn;

namespace {

std::string temp_dir() {
  char pattern[] = "/tmp/mfn-gallery-test-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  return pattern;
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Status load(const std::string& path, std::unique_ptr<Gallery>* g) { return Gallery::load(path, 2, g); }

std::vector<std::vector<GalleryMatch>> top(const Gallery& g, const std::vector<float>& q) {
  GallerySearchOptions o;
  o.k = 20;
  std::vector<std::vector<GalleryMatch>> r;
  REQUIRE(g.search(q.data(), q.size() / g.dimensions(), o, &r).is_ok());
  return r;
}

std::unique_ptr<Gallery> sample(Precision p, int dims, size_t n) {
  std::unique_ptr<Gallery> g;
  GalleryOptions o;
  o.dimensions = dims;
  o.precision = p;
  REQUIRE(Gallery::create(o, &g).is_ok());
  std::mt19937 rng(static_cast<uint32_t>(dims + n));
  std::normal_distribution<float> normal;
  std::vector<float> v(dims);
  for (size_t i = 0; i < n; ++i) {
    for (float& x : v) x = normal(rng);
    REQUIRE(g->add("person/" + std::to_string(i) + "/\xc3\xa9", v.data(), dims).is_ok());
  }
  for (size_t i = 0; i < n; i += 7) g->remove("person/" + std::to_string(i) + "/\xc3\xa9");
  return g;
}

void test_round_trip(const std::string& dir) {
  for (Precision p : {Precision::float32, Precision::float16, Precision::int8}) {
    auto g = sample(p, 100, 2500);
    const std::string path = dir + "/g-" + precision_name(p) + ".mfng";
    REQUIRE(g->save(path).is_ok());
    std::unique_ptr<Gallery> back;
    Status s = load(path, &back);
    REQUIRE(s.is_ok());
    CHECK(back->size() == g->size() && back->dimensions() == 100 && back->precision() == p);
    std::vector<float> q(3 * 100);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    for (float& x : q) x = normal(rng);
    auto a = top(*g, q), b = top(*back, q);
    for (size_t i = 0; i < a.size(); ++i) {
      for (size_t r = 0; r < a[i].size(); ++r) {
        CHECK(a[i][r].id == b[i][r].id && a[i][r].similarity == b[i][r].similarity);
      }
    }
    // Saving the loaded gallery gives the same bytes.
    REQUIRE(back->save(path + ".again").is_ok());
    CHECK(read_all(path) == read_all(path + ".again"));
  }
  // An empty gallery round-trips too.
  auto empty = sample(Precision::float32, 8, 0);
  REQUIRE(empty->save(dir + "/empty").is_ok());
  std::unique_ptr<Gallery> back;
  CHECK(load(dir + "/empty", &back).is_ok() && back->size() == 0);
}

void test_bad_files(const std::string& dir) {
  auto g = sample(Precision::int8, 64, 300);
  const std::string path = dir + "/good";
  REQUIRE(g->save(path).is_ok());
  const std::vector<char> good = read_all(path);
  std::unique_ptr<Gallery> out;
  auto code_of = [&](const std::vector<char>& bytes) {
    write_all(dir + "/bad", bytes);
    return load(dir + "/bad", &out).code();
  };
  // One flipped bit anywhere: header, rows, scales, ids, checksum.
  for (size_t at : {size_t{9}, size_t{30}, size_t{40}, good.size() / 2, good.size() - 10, good.size() - 1}) {
    std::vector<char> bytes = good;
    bytes[at] ^= 0x10;
    CHECK_MSG(code_of(bytes) == Code::gallery_file_invalid, "bit flipped at %zu", at);
  }
  for (size_t keep : {size_t{0}, size_t{10}, size_t{44}, good.size() - 1}) {
    CHECK_MSG(code_of(std::vector<char>(good.begin(), good.begin() + keep)) == Code::gallery_file_invalid,
              "truncated to %zu", keep);
  }
  std::vector<char> longer = good;
  longer.push_back(0);
  CHECK(code_of(longer) == Code::gallery_file_invalid);
  std::vector<char> foreign(good.size(), 'x');
  CHECK(code_of(foreign) == Code::gallery_file_invalid);
  std::vector<char> newer = good;
  newer[8] = 2;  // version 2
  write_all(dir + "/bad", newer);
  Status s = load(dir + "/bad", &out);
  CHECK(s.code() == Code::gallery_file_invalid && s.message().find("version 2") != std::string::npos);
  // A count that claims more rows than the file holds is refused before
  // any allocation.
  std::vector<char> huge = good;
  for (int i = 0; i < 8; ++i) huge[24 + i] = static_cast<char>(0xff);
  CHECK(code_of(huge) == Code::gallery_file_invalid);

  CHECK(load(dir + "/missing", &out).code() == Code::io_error);
  CHECK(load(dir, &out).code() == Code::gallery_file_invalid);  // a directory
  CHECK(g->save(dir + "/no/such/dir/file").code() == Code::io_error);
}

void test_failed_save_keeps_old_file(const std::string& dir) {
  auto g = sample(Precision::float16, 32, 100);
  const std::string path = dir + "/kept";
  REQUIRE(g->save(path).is_ok());
  const std::vector<char> before = read_all(path);
  // A directory where the temporary file would go cannot be written: make
  // the directory read-only (root ignores permissions, so skip the check then).
  const std::string sub = dir + "/ro";
  REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  REQUIRE(g->save(sub + "/kept").is_ok());
  const std::vector<char> saved = read_all(sub + "/kept");
  ::chmod(sub.c_str(), 0555);
  if (::geteuid() != 0) {
    auto other = sample(Precision::float16, 32, 50);
    CHECK(other->save(sub + "/kept").code() == Code::io_error);
    CHECK(read_all(sub + "/kept") == saved);
  }
  ::chmod(sub.c_str(), 0755);
  // Overwriting replaces the file whole, and leaves no temporary behind.
  auto other = sample(Precision::float16, 32, 50);
  REQUIRE(other->save(path).is_ok());
  CHECK(read_all(path) != before);
  std::unique_ptr<Gallery> back;
  CHECK(load(path, &back).is_ok() && back->size() == other->size());
  DIR* listing = ::opendir(dir.c_str());
  REQUIRE(listing != nullptr);
  while (dirent* entry = ::readdir(listing)) CHECK(std::string(entry->d_name).find(".tmp-") == std::string::npos);
  ::closedir(listing);
}

}  // namespace

int main() {
  const std::string dir = temp_dir();
  test_round_trip(dir);
  test_bad_files(dir);
  test_failed_save_keeps_old_file(dir);
  std::string cleanup = "rm -rf '" + dir + "'";
  (void)std::system(cleanup.c_str());
  return mfn_test::test_exit_code();
}

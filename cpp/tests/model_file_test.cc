// Model and manifest paths: only regular files are read, and never with a
// blocking open (a FIFO once held a libuv thread forever); a directory, a
// device or a path with a NUL byte gets its own error; the manifest's sha256
// is checked against the model file, whose hashing cost is printed here.
#include <sys/stat.h>  // mkfifo
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/model.h"
#include "core/model_file.h"
#include "core/sha256.h"
#include "core/sha256_shani.h"
#include "mfn/engine.h"
#include "tests/check.h"
#include "tests/test_data.h"

using mfn::Code;
using mfn::Status;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string dir_of(const std::string& path) { return path.substr(0, path.find_last_of('/') + 1); }

std::string scratch_dir() {
  static const std::string dir = mfn_test::scratch_dir("mfn_model_file_test");
  return dir;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string read_text(const std::string& path) {
  const std::vector<uint8_t> bytes = mfn_test::read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

// FIPS 180-4 example digests, plus lengths around the padding boundary.
void test_sha256_vectors() {
  auto hex = [](const std::string& s) { return mfn::sha256_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  CHECK(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(hex(std::string(55, 'x')) != hex(std::string(56, 'x')));
  // The SHA-NI path (where the CPU has it) and the portable one agree on
  // every length around the block and padding boundaries.
  std::string bytes;
  for (size_t n = 0; n <= 300; ++n) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    CHECK_MSG(mfn::sha256_hex(p, n) == mfn::sha256_hex_portable(p, n), "length %zu", n);
    bytes.push_back(static_cast<char>(n * 131 + 7));
  }
}

// The shipped model matches its manifest, and hashing it is cheap next to
// loading it (both timed here, in the same run).
void test_shipped_model_checksum() {
  const std::string model = mfn_test::model_path();
  const std::vector<uint8_t> bytes = mfn_test::read_file(model);
  REQUIRE(!bytes.empty());
  mfn::Manifest manifest;
  REQUIRE(mfn::read_manifest(dir_of(model) + "manifest.json", &manifest).is_ok());
  using Clock = std::chrono::steady_clock;
  double hash_ms = 1e9, portable_ms = 1e9, load_ms = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    Clock::time_point t0 = Clock::now();
    const std::string digest = mfn::sha256_hex(bytes.data(), bytes.size());
    hash_ms = std::min(hash_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    CHECK(digest == manifest.sha256);
    t0 = Clock::now();
    CHECK(mfn::sha256_hex_portable(bytes.data(), bytes.size()) == manifest.sha256);
    portable_ms = std::min(portable_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    mfn::Model loaded;
    t0 = Clock::now();
    CHECK(mfn::load_model(model, dir_of(model) + "manifest.json", &loaded).is_ok());
    load_ms = std::min(load_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::printf("sha256 of %zu bytes: %.2f ms (portable code %.2f ms, SHA-NI %s); load_model (read + sha256 + "
              "parse + lower): %.2f ms (best of 5)\n",
              bytes.size(), hash_ms, portable_ms, mfn::sha_ni_available() ? "used" : "absent", load_ms);
}

Status load(const std::string& model, const std::string& manifest) {
  mfn::Model m;
  return mfn::load_model(model, manifest, &m);
}

void test_checksum_mismatch() {
  const std::string model = mfn_test::model_path();
  const std::string manifest = read_text(dir_of(model) + "manifest.json");
  const std::string dir = scratch_dir();
  // The same model with one byte changed: the manifest no longer vouches for it.
  std::vector<uint8_t> bytes = mfn_test::read_file(model);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(dir + "changed.onnx", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  write_file(dir + "manifest.json", manifest);
  Status s = load(dir + "changed.onnx", dir + "manifest.json");
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "sha256"), "%s", s.message().c_str());
  // Without a sha256 the manifest checks nothing, so the altered file loads.
  std::string unchecked = manifest;
  const size_t at = unchecked.find("\"sha256\"");
  unchecked.erase(at, unchecked.find('\n', at) - at + 1);
  write_file(dir + "manifest.json", unchecked);
  s = load(dir + "changed.onnx", dir + "manifest.json");
  CHECK_MSG(s.is_ok(), "%s", s.message().c_str());
  // A sha256 that is not 64 hex digits is a broken manifest.
  std::string bad = manifest;
  bad.replace(bad.find("8403893c"), 8, "8403893g");
  write_file(dir + "manifest.json", bad);
  s = load(model, dir + "manifest.json");
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "hexadecimal"), "%s", s.message().c_str());
  std::remove((dir + "changed.onnx").c_str());
  std::remove((dir + "manifest.json").c_str());
}

// A FIFO with no writer: opening it for reading would block forever. The
// alarm turns a hang into a failure.
void test_special_files() {
  const std::string model = mfn_test::model_path();
  const std::string manifest = dir_of(model) + "manifest.json";
  const std::string fifo = scratch_dir() + "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  ::alarm(20);
  Status s = load(fifo, manifest);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "not a regular file"), "%s", s.message().c_str());
  s = load(model, fifo);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "not a regular file"), "%s", s.message().c_str());
  ::alarm(0);
  std::remove(fifo.c_str());
  // A character device that reads forever, and one that reads nothing.
  for (const char* device : {"/dev/zero", "/dev/null"}) {
    s = load(device, manifest);
    CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "not a regular file"), "%s", s.message().c_str());
  }
  // A directory says so (it once read as "larger than 4 GiB").
  s = load(scratch_dir(), manifest);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "is a directory"), "%s", s.message().c_str());
  s = load(model, scratch_dir());
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "is a directory"), "%s", s.message().c_str());
  s = load(scratch_dir() + "missing.onnx", manifest);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "missing.onnx"), "%s", s.message().c_str());
}

// "<model>\0junk" must not load <model>: the bytes after the NUL are part of
// the name the caller gave.
void test_nul_in_path() {
  const std::string model = mfn_test::model_path();
  const std::string manifest = dir_of(model) + "manifest.json";
  const std::string with_nul = model + std::string(1, '\0') + ".other";
  Status s = load(with_nul, manifest);
  CHECK_MSG(s.code() == Code::invalid_argument && contains(s.message(), "NUL"), "%s", s.message().c_str());
  s = load(model, manifest + std::string(1, '\0'));
  CHECK_MSG(s.code() == Code::invalid_argument && contains(s.message(), "NUL"), "%s", s.message().c_str());
  mfn::EngineOptions options;
  options.model_path = with_nul;
  options.backend = mfn::BackendChoice::cpu;
  std::unique_ptr<mfn::Engine> engine;
  s = mfn::Engine::create(options, &engine);
  CHECK(s.code() == Code::invalid_argument && !engine);
  // An oversized manifest is refused before it is read whole.
  std::vector<uint8_t> bytes;
  write_file(scratch_dir() + "big.json", std::string(mfn::kMaxManifestBytes + 1, ' '));
  s = mfn::read_regular_file(scratch_dir() + "big.json", "manifest", mfn::kMaxManifestBytes, &bytes);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "larger than") && bytes.empty());
  std::remove((scratch_dir() + "big.json").c_str());
}

}  // namespace

int main() {
  test_sha256_vectors();
  test_shipped_model_checksum();
  test_checksum_mismatch();
  test_special_files();
  test_nul_in_path();
  ::rmdir(scratch_dir().c_str());
  std::printf("model_file_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}

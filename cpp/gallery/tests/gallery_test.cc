// mfn::Gallery: float32 search identical to a float64 reference, float16
// and int8 recall, batch = single searches, add/replace/remove, limits and
// errors, and searches running while other threads add and remove.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gallery/store.h"
#include "mfn/gallery.h"
#include "tests/check.h"

using namespace mfn;

namespace {

std::vector<float> random_vectors(size_t n, int dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n * dims);
  for (float& x : v) x = normal(rng);
  return v;
}

std::unique_ptr<Gallery> make(int dims, Precision p, int threads = 2) {
  std::unique_ptr<Gallery> g;
  GalleryOptions o;
  o.dimensions = dims;
  o.precision = p;
  o.threads = threads;
  Status s = Gallery::create(o, &g);
  if (!s.is_ok()) {
    std::printf("create: %s\n", s.message().c_str());
    std::exit(1);
  }
  return g;
}

void fill(Gallery& g, const std::vector<float>& v, size_t n) {
  const int d = g.dimensions();
  for (size_t i = 0; i < n; ++i) REQUIRE(g.add("id" + std::to_string(i), &v[i * d], d).is_ok());
}

using Results = std::vector<std::vector<GalleryMatch>>;

Results search(const Gallery& g, const float* q, size_t n, int k, double min_similarity = -1) {
  GallerySearchOptions o;
  o.k = k;
  o.min_similarity = min_similarity;
  Results r;
  Status s = g.search(q, n, o, &r);
  CHECK_MSG(s.is_ok(), "%s", s.message().c_str());
  return r;
}

// The float64 reference: the stored row is float(x / |x|) with the norm in
// double, the query q / |q| in double, the dot product summed in double.
struct Reference {
  Reference(const std::vector<float>& v, size_t n, int dims) : dims(dims), rows(n * dims) {
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (int j = 0; j < dims; ++j) s += static_cast<double>(v[i * dims + j]) * v[i * dims + j];
      for (int j = 0; j < dims; ++j) rows[i * dims + j] = static_cast<float>(v[i * dims + j] / std::sqrt(s));
    }
  }
  std::vector<std::pair<double, size_t>> top(const float* q, int k) const {
    double s = 0;
    for (int j = 0; j < dims; ++j) s += static_cast<double>(q[j]) * q[j];
    std::vector<std::pair<double, size_t>> all;
    for (size_t i = 0; i < rows.size() / dims; ++i) {
      double dot = 0;
      for (int j = 0; j < dims; ++j) dot += (q[j] / std::sqrt(s)) * static_cast<double>(rows[i * dims + j]);
      all.push_back({dot, i});
    }
    std::partial_sort(all.begin(), all.begin() + k, all.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    all.resize(k);
    return all;
  }
  int dims;
  std::vector<float> rows;
};

void test_float32_matches_float64_reference() {
  for (int dims : {512, 100}) {
    const size_t n = 5000, nq = 17;
    auto v = random_vectors(n, dims, dims);
    auto q = random_vectors(nq, dims, dims + 1);
    auto g = make(dims, Precision::float32);
    fill(*g, v, n);
    Reference ref(v, n, dims);
    Results batch = search(*g, q.data(), nq, 10);
    double worst = 0;
    for (size_t i = 0; i < nq; ++i) {
      auto expected = ref.top(&q[i * dims], 10);
      REQUIRE(batch[i].size() == 10);
      for (int r = 0; r < 10; ++r) {
        CHECK(batch[i][r].id == "id" + std::to_string(expected[r].second));
        worst = std::max(worst, std::fabs(batch[i][r].similarity - expected[r].first));
      }
      // One query alone gives the same as in the batch.
      Results single = search(*g, &q[i * dims], 1, 10);
      for (int r = 0; r < 10; ++r) {
        CHECK(single[0][r].id == batch[i][r].id && single[0][r].similarity == batch[i][r].similarity);
      }
    }
    std::printf("float32 dims %d: top-10 ids equal to the float64 reference, worst |similarity - reference| %.3g\n",
                dims, worst);
    CHECK(worst <= 1e-13);
  }
}

void test_threads_do_not_change_results() {
  const int dims = 64;
  auto v = random_vectors(3000, dims, 5);
  auto q = random_vectors(5, dims, 6);
  for (Precision p : {Precision::float32, Precision::float16, Precision::int8}) {
    auto one = make(dims, p, 1);
    auto three = make(dims, p, 3);
    fill(*one, v, 3000);
    fill(*three, v, 3000);
    Results a = search(*one, q.data(), 5, 50), b = search(*three, q.data(), 5, 50);
    for (size_t i = 0; i < 5; ++i) {
      for (size_t r = 0; r < 50; ++r) {
        CHECK(a[i][r].id == b[i][r].id);
        CHECK(a[i][r].similarity == b[i][r].similarity);
      }
    }
  }
}

double recall_at_10(Precision p, size_t n, int dims) {
  auto v = random_vectors(n, dims, 11);
  auto q = random_vectors(200, dims, 12);
  auto exact = make(dims, Precision::float32);
  auto approx = make(dims, p);
  fill(*exact, v, n);
  fill(*approx, v, n);
  Results e = search(*exact, q.data(), 200, 10), a = search(*approx, q.data(), 200, 10);
  size_t hits = 0;
  for (size_t i = 0; i < 200; ++i) {
    std::set<std::string> truth;
    for (auto& m : e[i]) truth.insert(m.id);
    for (auto& m : a[i]) hits += truth.count(m.id);
  }
  return hits / 2000.0;
}

void test_recall_of_reduced_precisions() {
  for (Precision p : {Precision::float16, Precision::int8}) {
    double recall = recall_at_10(p, 20000, 512);
    std::printf("%s recall@10 on 20000 random unit vectors of 512: %.4f\n", precision_name(p), recall);
    CHECK(recall >= 0.98);
  }
}

void test_add_replace_remove() {
  const int dims = 8;
  auto g = make(dims, Precision::float32);
  float a[8] = {1, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 1, 0, 0, 0, 0, 0, 0}, c[8] = {0, 0, 3, 0, 0, 0, 0, 0};
  CHECK(g->add("a", a, 8).is_ok());
  CHECK(g->add("b", b, 8).is_ok());
  CHECK(g->size() == 2);
  Results r = search(*g, a, 1, 5);
  REQUIRE(r[0].size() == 2);
  CHECK(r[0][0].id == "a" && r[0][0].similarity == 1.0);
  CHECK(r[0][1].id == "b" && r[0][1].similarity == 0.0);
  CHECK(g->add("a", c, 8).is_ok());  // replaces
  CHECK(g->size() == 2);
  r = search(*g, c, 1, 5);
  CHECK(r[0][0].id == "a" && r[0][0].similarity == 1.0);
  r = search(*g, c, 1, 5, 0.5);  // minSimilarity drops b
  CHECK(r[0].size() == 1);
  CHECK(g->remove("a"));
  CHECK(!g->remove("a"));
  CHECK(!g->contains("a") && g->contains("b"));
  CHECK(g->size() == 1);
  r = search(*g, c, 1, 5);
  CHECK(r[0].size() == 1 && r[0][0].id == "b");
  CHECK(g->remove("b"));
  CHECK(g->size() == 0);
  r = search(*g, c, 1, 5);
  CHECK(r[0].empty());
}

// Removing rows in every position (across blocks) keeps the rest intact.
void test_remove_many() {
  const int dims = 16;
  const size_t n = 2500;  // three blocks
  auto v = random_vectors(n, dims, 21);
  auto g = make(dims, Precision::float32);
  fill(*g, v, n);
  std::set<size_t> alive;
  for (size_t i = 0; i < n; ++i) alive.insert(i);
  std::mt19937 rng(22);
  for (int i = 0; i < 1500; ++i) {
    size_t victim = rng() % n;
    bool was = alive.erase(victim) > 0;
    CHECK(g->remove("id" + std::to_string(victim)) == was);
  }
  CHECK(g->size() == alive.size());
  // Each survivor is still its own nearest neighbour with similarity 1.
  int checked = 0;
  for (size_t i : alive) {
    if (checked++ % 37 != 0) continue;
    Results r = search(*g, &v[i * dims], 1, 1);
    CHECK(r[0][0].id == "id" + std::to_string(i));
    CHECK(std::fabs(r[0][0].similarity - 1.0) < 1e-6);
  }
}

Status search_status(const Gallery& g, const float* q, size_t n, int k, double min_similarity = -1) {
  GallerySearchOptions o;
  o.k = k;
  o.min_similarity = min_similarity;
  Results r;
  return g.search(q, n, o, &r);
}

void test_errors() {
  auto g = make(4, Precision::int8);
  float ok[4] = {1, 2, 3, 4}, zero[4] = {0, 0, 0, 0}, nan[4] = {1, NAN, 0, 0}, inf[4] = {1, INFINITY, 0, 0};
  CHECK(g->add("x", ok, 3).code() == Code::dimension_mismatch);
  CHECK(g->add("x", zero, 4).code() == Code::invalid_embedding);
  CHECK(g->add("x", nan, 4).code() == Code::invalid_embedding);
  CHECK(g->add("x", inf, 4).code() == Code::invalid_embedding);
  CHECK(g->add("", ok, 4).code() == Code::invalid_argument);
  CHECK(g->add(std::string(kMaxGalleryIdBytes + 1, 'x'), ok, 4).code() == Code::invalid_argument);
  CHECK(g->add(std::string(kMaxGalleryIdBytes, 'x'), ok, 4).is_ok());
  CHECK(g->size() == 1);
  CHECK(search_status(*g, ok, 1, 0).code() == Code::invalid_argument);
  CHECK(search_status(*g, ok, 1, kMaxGalleryK + 1).code() == Code::invalid_argument);
  CHECK(search_status(*g, ok, 1, 10, 1.5).code() == Code::invalid_argument);
  CHECK(search_status(*g, ok, 1, 10, NAN).code() == Code::invalid_argument);
  CHECK(search_status(*g, zero, 1, 10).code() == Code::invalid_embedding);
  CHECK(search_status(*g, ok, kMaxGalleryQueries + 1, 1).code() == Code::invalid_argument);
  std::unique_ptr<Gallery> bad;
  GalleryOptions o;
  o.dimensions = 0;
  CHECK(Gallery::create(o, &bad).code() == Code::invalid_argument);
  o.dimensions = 4;
  o.threads = -1;
  CHECK(Gallery::create(o, &bad).code() == Code::invalid_argument);
}

void test_cancel() {
  auto v = random_vectors(20000, 64, 31);
  auto g = make(64, Precision::float32);
  fill(*g, v, 20000);
  std::atomic<bool> cancelled{true};
  GallerySearchOptions o;
  o.cancelled = &cancelled;
  Results r;
  CHECK(g->search(v.data(), 1, o, &r).code() == Code::aborted);
}

// Writers add, replace and remove while searches run. Id i holds either
// vector i or vector i + 2000, so every result can be checked against the
// two vectors its id may have: a torn row would match neither.
void test_concurrent_add_search() {
  const int dims = 32;
  auto g = make(dims, Precision::float32, 2);
  auto base = random_vectors(4000, dims, 41);
  auto query = random_vectors(8, dims, 42);
  for (size_t i = 0; i < 2000; ++i) REQUIRE(g->add("id" + std::to_string(i), &base[i * dims], dims).is_ok());
  std::atomic<bool> stop{false};
  std::atomic<int> searches{0}, bad{0};
  std::thread writer([&] {
    std::mt19937 rng(43);
    for (int step = 0; step < 40000 && !stop; ++step) {
      size_t i = rng() % 2000, version = rng() % 2;
      if (rng() % 3 == 0) g->remove("id" + std::to_string(i));
      else g->add("id" + std::to_string(i), &base[(i + version * 2000) * dims], dims);
    }
    stop = true;
  });
  auto reader = [&] {
    while (!stop) {
      Results r = search(*g, query.data(), 8, 20);
      for (size_t q = 0; q < 8; ++q) {
        std::set<std::string> seen;
        for (auto& m : r[q]) {
          if (!seen.insert(m.id).second) ++bad;
          size_t id = std::stoul(m.id.substr(2));
          bool matches = false;
          for (size_t i : {id, id + 2000}) {
            double s = 0, n = 0, nq = 0;
            for (int j = 0; j < dims; ++j) {
              s += base[i * dims + j] * static_cast<double>(query[q * dims + j]);
              n += static_cast<double>(base[i * dims + j]) * base[i * dims + j];
              nq += static_cast<double>(query[q * dims + j]) * query[q * dims + j];
            }
            matches = matches || std::fabs(s / std::sqrt(n * nq) - m.similarity) <= 1e-6;
          }
          if (!matches) ++bad;
        }
        for (size_t j = 1; j < r[q].size(); ++j) {
          if (r[q][j].similarity > r[q][j - 1].similarity) ++bad;
        }
      }
      ++searches;
    }
  };
  std::thread r1(reader), r2(reader);
  writer.join();
  r1.join();
  r2.join();
  std::printf("concurrent: %d searches during 40000 writes, %d inconsistent results\n", searches.load(), bad.load());
  CHECK(bad == 0);
  CHECK(searches > 0);
}

// A snapshot taken before changes still shows exactly the rows it had,
// whatever is replaced, removed (the swap with the last row) or appended.
void test_snapshot_isolation() {
  const size_t row = 64;
  gallery::Store store(row);
  std::vector<uint8_t> bytes(row);
  auto put = [&](int i, uint8_t fill) {
    std::fill(bytes.begin(), bytes.end(), fill);
    store.put("id" + std::to_string(i), bytes.data(), static_cast<float>(fill));
  };
  for (int i = 0; i < 2100; ++i) put(i, static_cast<uint8_t>(i % 251));
  auto before = store.snapshot();
  std::vector<std::pair<std::string, uint8_t>> expected;
  for (size_t r = 0; r < before->count; ++r) {
    const gallery::Block& b = before->block_of(r);
    expected.push_back({b.ids[r % gallery::kBlockRows], b.row(r % gallery::kBlockRows)[0]});
  }
  for (int i = 0; i < 2100; i += 3) store.remove("id" + std::to_string(i));
  for (int i = 1; i < 2100; i += 5) put(i, 255);
  for (int i = 5000; i < 5600; ++i) put(i, 254);
  CHECK(before->count == 2100);
  for (size_t r = 0; r < before->count; ++r) {
    const gallery::Block& b = before->block_of(r);
    const uint8_t* data = b.row(r % gallery::kBlockRows);
    CHECK(b.ids[r % gallery::kBlockRows] == expected[r].first);
    CHECK(data[0] == expected[r].second && data[row - 1] == expected[r].second);
    CHECK(b.scale[r % gallery::kBlockRows] == static_cast<float>(expected[r].second));
  }
  auto after = store.snapshot();
  // 700 removed, 140 of them (i = 6 mod 15) put back, 600 new.
  CHECK(after->count == 2100 - 700 + 140 + 600);
  CHECK(store.size() == after->count);
}

}  // namespace

int main() {
  test_snapshot_isolation();
  test_float32_matches_float64_reference();
  test_threads_do_not_change_results();
  test_recall_of_reduced_precisions();
  test_add_replace_remove();
  test_remove_many();
  test_errors();
  test_cancel();
  test_concurrent_add_search();
  return mfn_test::test_exit_code();
}

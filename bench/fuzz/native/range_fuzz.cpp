// Fuzz the native checkpoint range reads under AddressSanitizer (and UBSan): MappedFile::range and
// MappedFile::release, and PlanWeightSource::take (which the TypeScript plan feeds with offsets and
// lengths), with offsets, lengths and dtypes drawn from a seeded generator biased to the edges (0,
// the file size, one past it, 2^32, 2^63, 2^64 - 1, size - length + 1, ...). Every call must either
// return bytes inside the file, all of which are then read (so that a read past the map faults or is
// reported by ASan), or throw wan::Error E_MODEL_FORMAT naming the file; anything else is counted as
// a crash. The TS side already refuses such plans; this checks that the native side does not rely
// on it. Built and run by run.sh; prints one JSON line of counts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "io/mapped_file.h"
#include "io/weight_source.h"
#include "ops/backend.h"

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
};

// An offset or a length near the edges of a file of `size` bytes.
uint64_t edgy(Rng& r, uint64_t size, uint64_t other) {
  switch (r.below(12)) {
    case 0: return 0;
    case 1: return size;
    case 2: return size + 1;
    case 3: return size == 0 ? 0 : size - 1;
    case 4: return UINT64_MAX;
    case 5: return UINT64_MAX - r.below(4096);
    case 6: return 1ull << 63;
    case 7: return (1ull << 32) + r.below(16);
    case 8: return size >= other ? size - other + r.below(3) : r.below(3);  // ends at, or 1-2 bytes past, the end
    case 9: return r.below(4096);
    default: return r.below(size + 64);
  }
}

struct Counts {
  uint64_t calls = 0, accepted = 0, rejected = 0, crashes = 0, bytes_read = 0;
};

volatile uint8_t sink;

void read_all(const uint8_t* p, uint64_t n, Counts& c) {
  uint8_t acc = 0;
  for (uint64_t i = 0; i < n; ++i) acc ^= p[i];
  sink = acc;
  c.bytes_read += n;
}

void crash(Counts& c, const std::string& what) {
  if (c.crashes++ < 10) std::fprintf(stderr, "crash: %s\n", what.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  const std::string dir = argc > 3 ? argv[3] : "/tmp";
  Rng r{seed};
  const long page = sysconf(_SC_PAGESIZE);
  // Files of sizes around the page boundaries (a read past the mapping faults only past its last page).
  const std::vector<uint64_t> sizes = {0, 1, 7, 64, uint64_t(page) - 1, uint64_t(page), uint64_t(page) + 1, 3 * uint64_t(page) + 5, 65536};
  std::vector<std::string> paths;
  for (size_t i = 0; i < sizes.size(); ++i) {
    paths.push_back(dir + "/range_fuzz_" + std::to_string(getpid()) + "_" + std::to_string(i) + ".bin");
    std::FILE* f = std::fopen(paths.back().c_str(), "wb");
    if (!f) { std::perror("fopen"); return 2; }
    for (uint64_t b = 0; b < sizes[i]; ++b) std::fputc(static_cast<int>(r.next() & 0xff), f);
    std::fclose(f);
  }

  Counts range_c, take_c;
  // 1. MappedFile::range and release with fuzzed offsets and lengths.
  {
    std::vector<std::unique_ptr<wan::MappedFile>> files;
    for (auto& p : paths) files.push_back(std::make_unique<wan::MappedFile>(p));
    for (uint64_t it = 0; it < iterations; ++it) {
      const size_t k = r.below(files.size());
      const wan::MappedFile& f = *files[k];
      const uint64_t size = f.size();
      uint64_t length = edgy(r, size, 0);
      uint64_t offset = edgy(r, size, length);
      if (r.below(4) == 0) std::swap(offset, length);
      range_c.calls++;
      try {
        const uint8_t* p = f.range(offset, length, "tensor \"fuzz\"");
        // The oracle: accepted ranges lie inside the file.
        if (offset > size || length > size - offset) {
          crash(range_c, "accepted [" + std::to_string(offset) + "," + std::to_string(offset) + "+" + std::to_string(length) + ") of " + std::to_string(size));
          continue;
        }
        read_all(p, length, range_c);
        range_c.accepted++;
      } catch (const wan::Error& e) {
        if (e.code() == "E_MODEL_FORMAT" && std::string(e.what()).find(f.path()) != std::string::npos) range_c.rejected++;
        else crash(range_c, e.code() + ": " + e.what());
      } catch (const std::exception& e) {
        crash(range_c, std::string("std::exception: ") + e.what());
      }
      f.release(offset, length);  // a hint; must not fault for any input
    }
  }

  // 2. PlanWeightSource::take: plans whose offsets, lengths and dtypes are fuzzed (the shape is the
  // model's, as in the runtime, where it comes from the model code and not from the file).
  {
    auto backend = wan::make_cpu_backend(1);
    size_t n_dtypes = 0;
    const wan::DTypeInfo* table = wan::dtype_table(&n_dtypes);
    const std::vector<wan::Shape> shapes = {{1}, {7}, {32}, {4, 8}, {2, 256}, {3, 5, 7}, {0, 4}, {64, 64}};
    for (uint64_t it = 0; it < iterations / 4; ++it) {
      const size_t k = r.below(paths.size());
      const uint64_t size = sizes[k];
      const wan::DTypeInfo& d = table[r.below(n_dtypes)];
      const wan::Shape shape = shapes[r.below(shapes.size())];
      wan::TensorSpec s;
      s.name = "blocks.0.fuzz.weight";
      s.file = paths[k];
      s.dtype = d.dtype;
      s.shape = shape;
      const int64_t numel = wan::shape_numel(shape);
      const uint64_t expected = (d.block_elems > 1 && numel % d.block_elems != 0) ? 0 : wan::dtype_bytes(d.dtype, numel);
      s.length = r.below(5) == 0 ? edgy(r, size, 0) : expected;
      s.offset = edgy(r, size, s.length);
      s.scale = r.below(8) == 0 ? 0.0f : 1.0f;
      take_c.calls++;
      try {
        std::vector<wan::TensorSpec> specs{s};
        wan::PlanWeightSource src(*backend, std::move(specs));
        wan::Tensor t = src.take(s.name, shape, r.below(2) ? wan::WeightUse::Dense : wan::WeightUse::Matrix);
        if (s.offset > size || s.length > size - s.offset) {
          crash(take_c, "take accepted [" + std::to_string(s.offset) + "," + std::to_string(s.length) + ") of " + std::to_string(size));
          continue;
        }
        take_c.accepted++;
        take_c.bytes_read += s.length;
        src.finish();
      } catch (const wan::Error& e) {
        // A plan the file cannot hold is E_MODEL_FORMAT naming the file; a dtype the backend does
        // not load for this use may be E_UNSUPPORTED. Both are coded refusals.
        const bool named = std::string(e.what()).find(paths[k]) != std::string::npos;
        if ((e.code() == "E_MODEL_FORMAT" && named) || e.code() == "E_UNSUPPORTED") take_c.rejected++;
        else crash(take_c, e.code() + ": " + e.what());
      } catch (const std::exception& e) {
        crash(take_c, std::string("std::exception: ") + e.what());
      }
    }
  }
  for (auto& p : paths) std::remove(p.c_str());
  std::printf(
      "{\"seed\": %llu, \"range\": {\"calls\": %llu, \"accepted\": %llu, \"rejected\": %llu, \"crashes\": %llu, \"bytesRead\": %llu}, "
      "\"take\": {\"calls\": %llu, \"accepted\": %llu, \"rejected\": %llu, \"crashes\": %llu, \"bytesRead\": %llu}}\n",
      (unsigned long long)seed, (unsigned long long)range_c.calls, (unsigned long long)range_c.accepted,
      (unsigned long long)range_c.rejected, (unsigned long long)range_c.crashes, (unsigned long long)range_c.bytes_read,
      (unsigned long long)take_c.calls, (unsigned long long)take_c.accepted, (unsigned long long)take_c.rejected,
      (unsigned long long)take_c.crashes, (unsigned long long)take_c.bytes_read);
  return range_c.crashes + take_c.crashes == 0 ? 0 : 1;
}

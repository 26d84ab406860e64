#pragma once
// A read-only memory map of a checkpoint file. Loaders read the byte ranges the TypeScript plan
// names; the map is dropped as soon as the weights are converted.
#include <cstddef>
#include <cstdint>
#include <string>

namespace wan {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  // The bytes [offset, offset + length); fails with E_MODEL_FORMAT naming `what` if out of range.
  const uint8_t* range(uint64_t offset, uint64_t length, const std::string& what) const;
  // Drops the whole pages inside [offset, offset + length) from the process's resident set once
  // their bytes were copied (a hint: the map stays valid and rereads from the file).
  void release(uint64_t offset, uint64_t length) const;

 private:
  std::string path_;
  size_t size_ = 0;
  void* base_ = nullptr;
#ifdef _WIN32
  void* file_handle_ = nullptr;
  void* map_handle_ = nullptr;
#endif
};

}  // namespace wan

#include "io/mapped_file.h"

#include "core/error.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#endif

namespace wan {

#ifdef _WIN32
MappedFile::MappedFile(const std::string& path) : path_(path) {
  file_handle_ = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                             FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file_handle_ == INVALID_HANDLE_VALUE) fail("E_MODEL_FORMAT", path + ": cannot open");
  LARGE_INTEGER sz;
  GetFileSizeEx(file_handle_, &sz);
  size_ = static_cast<size_t>(sz.QuadPart);
  if (size_ == 0) return;
  map_handle_ = CreateFileMappingA(file_handle_, nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!map_handle_) fail("E_MODEL_FORMAT", path + ": cannot map");
  base_ = MapViewOfFile(map_handle_, FILE_MAP_READ, 0, 0, 0);
  if (!base_) fail("E_MODEL_FORMAT", path + ": cannot map");
}

MappedFile::~MappedFile() {
  if (base_) UnmapViewOfFile(base_);
  if (map_handle_) CloseHandle(map_handle_);
  if (file_handle_ && file_handle_ != INVALID_HANDLE_VALUE) CloseHandle(file_handle_);
}
#else
MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("E_MODEL_FORMAT", path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("E_MODEL_FORMAT", path + ": cannot stat");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    base_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      ::close(fd);
      fail("E_MODEL_FORMAT", path + ": cannot map (" + std::strerror(errno) + ")");
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (base_) ::munmap(base_, size_);
}
#endif

const uint8_t* MappedFile::range(uint64_t offset, uint64_t length, const std::string& what) const {
  if (offset > size_ || length > size_ - offset)
    fail("E_MODEL_FORMAT", path_ + ": " + what + " lies at bytes [" + std::to_string(offset) + ", " +
                               std::to_string(offset + length) + ") but the file has " +
                               std::to_string(size_) + " bytes (truncated?)");
  // An empty file has no map: give its empty ranges a real address, since the callers memcpy from
  // it and memcpy from a null pointer is undefined even for 0 bytes (UBSan, bench/fuzz/native).
  static const uint8_t empty = 0;
  if (!base_) return &empty;
  return static_cast<const uint8_t*>(base_) + offset;
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
#ifndef _WIN32
  if (!base_ || offset > size_ || length > size_ - offset) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t begin = (offset + page - 1) / page * page;
  const uint64_t end = (offset + length) / page * page;
  if (end > begin) ::madvise(static_cast<uint8_t*>(base_) + begin, end - begin, MADV_DONTNEED);
#else
  (void)offset;
  (void)length;
#endif
}

}  // namespace wan

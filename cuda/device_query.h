#pragma once
// Which CUDA devices answer, for the loader's choice and `wan-video info`. Kept free of CUDA
// headers so that the C++ side of the addon compiles without the toolkit's includes.
#include <cstddef>
#include <string>
#include <vector>

namespace wan::cuda {

struct DeviceInfo {
  std::string name;
  std::string compute_capability;  // "9.0"
  size_t memory_bytes = 0;
};

// Empty when no driver or device answers; `error` then says why.
std::vector<DeviceInfo> list_devices(std::string* error);

}  // namespace wan::cuda

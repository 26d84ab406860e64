#include <cuda_runtime.h>

#include "device_query.h"

namespace wan::cuda {

std::vector<DeviceInfo> list_devices(std::string* error) {
  std::vector<DeviceInfo> out;
  int count = 0;
  cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    if (error) *error = cudaGetErrorString(st);
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.name = prop.name;
    d.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    d.memory_bytes = prop.totalGlobalMem;
    out.push_back(d);
  }
  if (out.empty() && error && error->empty()) *error = "no CUDA device";
  return out;
}

}  // namespace wan::cuda

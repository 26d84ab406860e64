#pragma once
// Makes the CUDA backend without pulling CUDA headers into the caller (the N-API layer, the
// parity and benchmark executables).
#include <memory>
#include <string>

#include "ops/backend.h"

namespace wan::cuda {

// The backend on device `device` (WAN_VIDEO_CUDA_DEVICE, default 0), or null with `why` set when
// no device answers or it cannot be used (compute capability below 8.0, driver too old).
std::unique_ptr<Backend> make_cuda_backend(int device, std::string* why);

// Reads WAN_VIDEO_CUDA_DEVICE (default 0).
int cuda_device_from_env();

}  // namespace wan::cuda

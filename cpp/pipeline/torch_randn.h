#pragma once
// The initial noise of the reference pipelines, reproduced on the host:
//   torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)
// (diffusers' randn_tensor with a CPU generator). A seed therefore gives the same video here as in
// the reference. The result is a plain float buffer; the caller uploads it to its backend.
#include <cstdint>
#include <vector>

namespace wan::pipeline {

// Fills out[0 .. numel) with what torch.randn returns for a tensor of numel elements (its shape only
// matters through numel: the values are drawn in row-major order). Any 64-bit seed is accepted;
// like PyTorch's mt19937, only its low 32 bits seed the engine.
void torch_randn_cpu(uint64_t seed, float* out, int64_t numel);
std::vector<float> torch_randn_cpu(uint64_t seed, int64_t numel);

}  // namespace wan::pipeline

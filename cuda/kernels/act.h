#pragma once
// Activations as the kernels see them: the same values as wan::Activation (checked where the
// backend converts), kept here so kernel headers need no part of the C++ runtime.
namespace wan::cuda {

enum class Act : int { None = 0, GeluTanh = 1, GeluErf = 2, Silu = 3 };

}  // namespace wan::cuda

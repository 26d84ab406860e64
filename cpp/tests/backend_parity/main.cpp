// wan_backend_parity: the CUDA backend against the CPU backend, op by op and model by model.
//
//   wan_backend_parity [--json PATH] [--filter TEXT] [--cpu-only] [--no-models] [--perturb F]
//
// With a device, the device under test is the CUDA backend. Without one (or with --cpu-only) it
// is a second CPU backend: every check still runs through the same code (the harness's own test,
// and what CI can run), the JSON says "device": "none (cpu self-check)", and the exit code is that
// of the checks. --perturb F scales the device side's results by 1 + F, so that a harness that
// cannot fail is caught. Exit code: 0 all passed, 1 a check failed, 2 bad arguments.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#ifdef WAN_WITH_CUDA
#include "backends/cuda/make_cuda_backend.h"
#endif
#include "tests/backend_parity/harness.h"

using namespace wan;

namespace {

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) {
      o += ' ';
      continue;
    }
    o += ch;
  }
  return o;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

struct Result {
  std::string name;
  double rel_l2, bound;
  bool pass;
  std::string error;
};

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, filter;
  bool cpu_only = false, models = true;
  float perturb = 0.0f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json") json_path = value();
    else if (a == "--filter") filter = value();
    else if (a == "--cpu-only") cpu_only = true;
    else if (a == "--no-models") models = false;
    else if (a == "--perturb") perturb = std::strtof(value().c_str(), nullptr);
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }

  auto ref = make_cpu_backend(0);
  std::unique_ptr<Backend> dut;
  std::string why = "--cpu-only";
#ifdef WAN_WITH_CUDA
  if (!cpu_only) dut = cuda::make_cuda_backend(cuda::cuda_device_from_env(), &why);
#else
  if (!cpu_only) why = "built without CUDA";
#endif
  const bool on_device = dut != nullptr;
  if (!dut) dut = make_cpu_backend(0);
  const BackendInfo info = dut->info();
  const std::string device = on_device ? info.device : "none (cpu self-check)";
  std::printf("wan_backend_parity: device under test %s (%s, gemm %s)%s\n", device.c_str(), info.name.c_str(),
              info.gemm.c_str(), on_device ? "" : (", " + why).c_str());

  auto checks = parity::op_checks();
  for (auto& w : parity::weight_checks()) checks.push_back(std::move(w));
  if (models)
    for (auto& m : parity::model_checks()) checks.push_back(std::move(m));

  std::vector<Result> results;
  int failed = 0;
  parity::Ctx ctx(*ref, *dut, 20261121);
  ctx.perturb = perturb;
  for (const auto& check : checks) {
    if (!filter.empty() && check.name.find(filter) == std::string::npos) continue;
    Result r{check.name, INFINITY, check.bound, false, ""};
    try {
      r.rel_l2 = check.run(ctx);
      r.pass = std::isfinite(r.rel_l2) && r.rel_l2 <= check.bound;
    } catch (const Error& e) {
      r.error = e.code() + ": " + e.what();
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    if (!r.pass) ++failed;
    std::printf("%s  %-70s rel_l2 %-12s bound %-8s%s%s\n", r.pass ? "PASS" : "FAIL", r.name.c_str(),
                json_number(r.rel_l2).c_str(), json_number(r.bound).c_str(), r.error.empty() ? "" : "  ",
                r.error.c_str());
    std::fflush(stdout);
    results.push_back(r);
  }
  const MemoryStats mem = dut->info().memory;

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\n  \"device\": \"" << json_escape(device) << "\",\n  \"mode\": \""
        << (on_device ? "cuda" : "cpu-self-check") << "\",\n  \"backend\": {\"name\": \"" << json_escape(info.name)
        << "\", \"gemm\": \"" << json_escape(info.gemm) << "\", \"peak_device_bytes\": " << mem.peak << "},\n";
    if (!on_device) out << "  \"why_no_device\": \"" << json_escape(why) << "\",\n";
    out << "  \"passed\": " << results.size() - failed << ",\n  \"failed\": " << failed << ",\n  \"parity\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      out << "    {\"name\": \"" << json_escape(r.name) << "\", \"rel_l2\": " << json_number(r.rel_l2)
          << ", \"bound\": " << json_number(r.bound) << ", \"pass\": " << (r.pass ? "true" : "false");
      if (!r.error.empty()) out << ", \"error\": \"" << json_escape(r.error) << "\"";
      out << "}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 2;
    }
  }
  std::printf("%zu passed, %d failed\n", results.size() - failed, failed);
  return failed ? 1 : 0;
}

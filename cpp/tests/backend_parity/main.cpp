// wan_backend_parity: the CUDA backend against the CPU backend, op by op and model by model.
//
//   wan_backend_parity [--json PATH] [--filter TEXT[|TEXT...]] [--cpu-only] [--no-models] [--perturb F]
//                      [--group ops|models|production-ops|production-models]... [--reduce N]
//   wan_backend_parity --preflight     (one JSON line: the device, and where cuBLASLt was found)
//   wan_backend_parity --list          (the checks' groups and names)
//
// Groups: `ops` and `models` (the default) are small shapes; `production-ops` and
// `production-models` are the shapes production runs (production_checks.cpp), compared on sampled
// rows. The device check runs each group in its own process, so that a device fault in one (the
// CUDA context is lost after an illegal access) does not poison the others. --reduce N divides
// the production token counts by N (the CPU self-check runs them so).
//
// With a device, the device under test is the CUDA backend. Without one (or with --cpu-only) it
// is a second CPU backend: every check still runs through the same code (the harness's own test,
// and what CI can run), the JSON says "device": "none (cpu self-check)", and the exit code is that
// of the checks. --perturb F scales the device side's results by 1 + F, so that a harness that
// cannot fail is caught. Exit code: 0 all passed, 1 a check failed, 2 bad arguments.
#include <chrono>
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
#include "backends/cuda/cublaslt_gemm.h"
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
  std::string name, group;
  double rel_l2, bound, seconds;
  bool pass;
  std::string error;
};

const char* const kGroups[] = {"ops", "models", "production-ops", "production-models"};

std::vector<parity::Check> group_checks(const std::string& g) {
  if (g == "ops") {  // every op, and every stored dtype's weights through load_weight
    auto checks = parity::op_checks();
    for (auto& w : parity::weight_checks()) checks.push_back(std::move(w));
    return checks;
  }
  if (g == "models") return parity::model_checks();
  if (g == "production-ops") return parity::production_op_checks();
  if (g == "production-models") return parity::production_model_checks();
  return {};
}

// Where this build would find cuBLASLt, and the device, without running a check.
int preflight(bool cpu_only) {
  std::string lt = "built without CUDA", lt_why;
  std::string device = "none", why = "built without CUDA";
#ifdef WAN_WITH_CUDA
  lt = cuda::CublasLtGemm::library(&lt_why);
  why.clear();
  if (!cpu_only) {
    auto dut = cuda::make_cuda_backend(cuda::cuda_device_from_env(), &why);
    if (dut) device = dut->info().device + ", gemm " + dut->info().gemm;
  } else {
    why = "--cpu-only";
  }
#endif
  std::printf("{\"device\": \"%s\", \"why_no_device\": \"%s\", \"cublaslt\": \"%s\", \"cublaslt_missing\": \"%s\"}\n",
              json_escape(device).c_str(), json_escape(why).c_str(), json_escape(lt).c_str(), json_escape(lt_why).c_str());
  return 0;
}

}  // namespace

// --filter TEXT: checks whose name contains TEXT, or any of TEXT's '|'-separated alternatives.
static bool matches_filter(const std::string& name, const std::string& filter) {
  size_t start = 0;
  while (true) {
    const size_t bar = filter.find('|', start);
    const std::string part = filter.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    if (!part.empty() && name.find(part) != std::string::npos) return true;
    if (bar == std::string::npos) return false;
    start = bar + 1;
  }
}

int main(int argc, char** argv) {
  std::string json_path, filter;
  bool cpu_only = false, models = true, want_preflight = false, list = false;
  float perturb = 0.0f;
  int64_t reduce = 1;
  std::vector<std::string> groups;
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
    else if (a == "--reduce") reduce = std::strtoll(value().c_str(), nullptr, 10);
    else if (a == "--preflight") want_preflight = true;
    else if (a == "--list") list = true;
    else if (a == "--group") {
      groups.push_back(value());
      bool known = false;
      for (const char* g : kGroups) known = known || groups.back() == g;
      if (!known) {
        std::fprintf(stderr, "unknown group %s (ops, models, production-ops, production-models)\n", groups.back().c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }

  if (reduce < 1) {
    std::fprintf(stderr, "--reduce needs a positive integer\n");
    return 2;
  }
  if (groups.empty()) {
    groups.push_back("ops");
    if (models) groups.push_back("models");
  }
  if (want_preflight) return preflight(cpu_only);
  if (list) {
    for (const char* g : kGroups)
      for (const auto& c : group_checks(g)) std::printf("%-18s %s\n", g, c.name.c_str());
    return 0;
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

  std::vector<std::pair<std::string, parity::Check>> checks;
  for (const auto& g : groups)
    for (auto& c : group_checks(g)) {
      if (c.only_on_gemm && on_device && info.gemm != c.only_on_gemm) {
        std::printf("LEFT OUT  %s (the same ops on both sides unless the GEMM is %s)\n", c.name.c_str(), c.only_on_gemm);
        continue;
      }
      checks.emplace_back(g, std::move(c));
    }

  // The report, rewritten after every check: a process that dies on a device fault leaves the
  // results of the checks before it ("complete": false until the last).
  std::vector<Result> results;
  int failed = 0;
  auto write_json = [&](bool partial) {
    const MemoryStats mem = dut->info().memory;
    std::ofstream out(json_path);
    out << "{\n  \"device\": \"" << json_escape(device) << "\",\n  \"mode\": \""
        << (on_device ? "cuda" : "cpu-self-check") << "\",\n  \"backend\": {\"name\": \"" << json_escape(info.name)
        << "\", \"gemm\": \"" << json_escape(info.gemm) << "\", \"peak_device_bytes\": " << mem.peak << "},\n";
    if (!on_device) out << "  \"why_no_device\": \"" << json_escape(why) << "\",\n";
    out << "  \"reduce\": " << reduce << ",\n  \"complete\": " << (partial ? "false" : "true") << ",\n";
    out << "  \"passed\": " << results.size() - failed << ",\n  \"failed\": " << failed << ",\n  \"parity\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      out << "    {\"name\": \"" << json_escape(r.name) << "\", \"group\": \"" << r.group << "\", \"rel_l2\": "
          << json_number(r.rel_l2) << ", \"bound\": " << json_number(r.bound) << ", \"pass\": " << (r.pass ? "true" : "false")
          << ", \"seconds\": " << json_number(r.seconds);
      if (!r.error.empty()) out << ", \"error\": \"" << json_escape(r.error) << "\"";
      out << "}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
    if (!out) std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
    return static_cast<bool>(out);
  };
  parity::Ctx ctx(*ref, *dut, 20261121);
  ctx.perturb = perturb;
  ctx.reduce = reduce;
  for (const auto& [group, check] : checks) {
    if (!filter.empty() && !matches_filter(check.name, filter)) continue;
    Result r{check.name, group, INFINITY, check.bound, 0.0, false, ""};
    const auto t0 = std::chrono::steady_clock::now();
    try {
      r.rel_l2 = check.run(ctx);
      r.pass = std::isfinite(r.rel_l2) && r.rel_l2 <= check.bound;
    } catch (const Error& e) {
      r.error = e.code() + ": " + e.what();
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.pass) ++failed;
    std::printf("%s  %-70s rel_l2 %-12s bound %-8s %7.2f s%s%s\n", r.pass ? "PASS" : "FAIL", r.name.c_str(),
                json_number(r.rel_l2).c_str(), json_number(r.bound).c_str(), r.seconds, r.error.empty() ? "" : "  ",
                r.error.c_str());
    std::fflush(stdout);
    results.push_back(r);
    if (!json_path.empty()) write_json(true);
  }
  if (!json_path.empty() && !write_json(false)) return 2;
  std::printf("%zu passed, %d failed\n", results.size() - failed, failed);
  return failed ? 1 : 0;
}

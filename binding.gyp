{
  "variables": {
    "wan_blas%": "<!(node scripts/native-config.mjs blas)",
    "wan_static_runtime%": "<!(node scripts/native-config.mjs static-runtime)"
  },
  "targets": [
    {
      "target_name": "wan_video",
      "sources": ["<!@(node scripts/native-config.mjs sources)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "cpp", "."],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CFLAGS": ["-O3"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] } },
      "conditions": [
        ["wan_blas=='openblas'", {
          "defines": ["WAN_BLAS_OPENBLAS"],
          "include_dirs": ["/usr/include/openblas"],
          "libraries": ["-lopenblas"]
        }],
        ["wan_blas=='accelerate'", {
          "defines": ["WAN_BLAS_ACCELERATE"],
          "libraries": ["-framework Accelerate"]
        }],
        ["OS=='linux'", { "libraries": ["-lpthread"] }],
        ["OS=='linux' and wan_static_runtime=='true'", {
          "ldflags": ["-static-libstdc++", "-static-libgcc"]
        }]
      ]
    }
  ]
}

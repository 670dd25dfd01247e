{
  "targets": [
    {
      "target_name": "node_daemonize",
      "sources": [
        "native/addon/init.cc",
        "native/addon/errors.cc",
        "native/addon/spawn.cc",
        "native/addon/session.cc",
        "native/addon/locks.cc",
        "native/addon/watcher.cc",
        "native/addon/users.cc",
        "native/addon/notify.cc",
        "native/addon/log.cc",
        "native/addon/listen.cc",
        "native/addon/dirs.cc",
        "native/addon/protocol_exports.cc",
        "native/addon/exec.cc",
        "native/addon/procfd.cc",
        "native/addon/walk.cc",
        "native/addon/read.cc",
        "native/addon/exit.cc",
        "native/fd_moves.c"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-Os", "-ffunction-sections", "-fdata-sections", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-ffunction-sections", "-fdata-sections", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "conditions": [["OS=='linux'", { "ldflags": ["-Wl,--gc-sections"] }]],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LIBRARY": "libc++" }
    },
    {
      "target_name": "node-daemonize-helper",
      "type": "executable",
      "sources": [
        "native/helper.c",
        "native/plan.c",
        "native/daemon_steps.c",
        "native/fd_moves.c",
        "native/records.c",
        "native/window.c",
        "native/proc.c",
        "native/supervisor.c",
        "native/service.c",
        "native/launch.c",
        "native/respawn.c",
        "native/graceful.c",
        "native/memory.c",
        "native/generation.c",
        "native/leftovers.c",
        "native/cgroup.c",
        "native/evlog.c",
        "native/statefile.c",
        "native/supervise_policy.c",
        "native/text.c",
        "native/pid1.c",
        "native/forward.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Os", "-ffunction-sections", "-fdata-sections"],
      "conditions": [["OS=='linux'", { "ldflags": ["-static-pie", "-Wl,--gc-sections"] }]]
    }
  ]
}

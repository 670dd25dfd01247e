import { defineConfig } from 'vitest/config'

export default defineConfig({
  // src/daemon/*.cts (CommonJS, for the preload) are TypeScript too.
  oxc: { include: /\.[cm]?tsx?$/ },
  test: {
    include: ['test/**/*.test.ts'],
    // Real daemons on a 2-core machine: a generous timeout, and files run in
    // separate processes so one file's daemons never share a caller with another's.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/umask.ts'],
  },
})

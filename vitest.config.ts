import * as os from "node:os"
import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default"],
    // The CLI processes the tests start share one compile cache (bin/compile-cache.cjs), even those
    // given a HOME of their own, so each does not compile the bundle afresh.
    env: { CLAWGATE_COMPILE_CACHE: path.join(os.tmpdir(), `clawgate-test-compile-cache-${process.getuid?.() ?? 0}`) }
  }
})

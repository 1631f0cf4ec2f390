/**
 * V8 settings for a long-running Gateway (`clawgate gateway run`), so that an idle one holds little
 * memory. Measured by bench (e), idle RSS; each step's share is in docs/operations.md ("Memory").
 *
 * Before any module loads (`beforeLoad`):
 * - the young generation stays at its initial size: start-up allocation would grow it, and the grown
 *   size stays committed (8 MB), while a Gateway's requests allocate little;
 * - no Sparkplug or TurboFan: start-up code (building layers, decoding the config, the migrations) runs
 *   once, and compiling what it runs hot touches the compilers' own code and working memory, about 7 MB
 *   of RSS kept for code never run again.
 *
 * At the first quiet moment after the Gateway listens (`afterStart`, on the "clawgate:started" event of
 * src/programs/gatewayRun.ts): checked every 250 ms, the first quarter second in which the event loop
 * was less than 5% busy, or 10 s after start at the latest. Not at once, nor while clients are
 * connecting (as they all do after a restart): writing the cache and the collection hold the loop for
 * 40-60 ms together, which a client's first answer would wait for. Then:
 * 1. the code cache is written, while the flags are still the ones the next start begins with (V8 takes
 *    a cache back only under the flags it was made with);
 * 2. one full, compacting collection that also drops the bytecode of functions not running now: what
 *    start-up alone used (4-5 MB of heap, and the pages the compaction empties go back to the system).
 *    A dropped function that runs again is compiled again, lazily, as V8 does for any function; run
 *    outside any fiber, so Effect's run loop is not on the stack and is dropped and recompiled too, which
 *    also starts its tier-up count afresh;
 * 3. Sparkplug and TurboFan back on, for what requests run hot.
 * Step 2's flags are V8's own (`--expose-gc`, `--stress-flush-code`, `--compact-on-every-full-gc`),
 * set for that one collection and then back to their defaults. Nothing here is needed for correctness:
 * if V8 refuses any of it, the Gateway runs as it would without.
 *
 * `CLAWGATE_V8_TUNING=0` leaves V8 at its defaults (to compare, or to rule this out).
 */
"use strict"
const v8 = require("node:v8")
const vm = require("node:vm")

const enabled = () => process.env.CLAWGATE_V8_TUNING !== "0"

/** The code cache's flavor: V8 refuses a cache made under other flags. */
exports.cacheFlavor = () => (enabled() ? "gateway" : "gateway-v8-defaults")

exports.beforeLoad = () => {
  if (!enabled()) return
  v8.setFlagsFromString("--semi-space-growth-factor=1")
  v8.setFlagsFromString("--no-sparkplug")
  v8.setFlagsFromString("--no-turbofan")
}

/** One collection that compacts the heap and drops the bytecode of every function not running now. */
const settle = () => {
  v8.setFlagsFromString("--expose-gc")
  v8.setFlagsFromString("--stress-flush-code")
  v8.setFlagsFromString("--compact-on-every-full-gc")
  try {
    vm.runInNewContext("gc")()
  } finally {
    v8.setFlagsFromString("--no-compact-on-every-full-gc")
    v8.setFlagsFromString("--no-stress-flush-code")
    v8.setFlagsFromString("--no-expose-gc")
  }
}

/** When the Gateway is quiet enough to settle: how often that is checked, how busy is quiet, and how long at most. */
const QUIET_CHECK_MS = 250
const QUIET_BELOW = 0.05
const SETTLE_BY_MS = 10_000

exports.afterStart = (saveCompileCache) => {
  const run = () => {
    saveCompileCache()
    if (!enabled()) return
    try {
      settle()
    } catch {}
    v8.setFlagsFromString("--sparkplug")
    v8.setFlagsFromString("--turbofan")
  }
  process.once("clawgate:started", () => {
    const startedAt = performance.now()
    let mark = performance.eventLoopUtilization()
    // From a timer: nothing of the Gateway's is on the stack then. Unref'd: it never holds a stopping Gateway.
    const check = () => {
      const busy = performance.eventLoopUtilization(mark).utilization
      mark = performance.eventLoopUtilization()
      if (busy < QUIET_BELOW || performance.now() - startedAt >= SETTLE_BY_MS) run()
      else setTimeout(check, QUIET_CHECK_MS).unref()
    }
    setTimeout(check, QUIET_CHECK_MS).unref()
  })
}

import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { processAlive } from "../../src/util/net.js"

/**
 * The process is no more: not there, or a zombie (an orphaned grandchild is
 * reaped by pid 1, which in some containers never reaps), within `withinMs`.
 * A positive signal to wait for, not a pause before asserting.
 */
export const gone = (pid: number, withinMs = 2_000) =>
  Effect.promise(async () => {
    for (const deadline = Date.now() + withinMs; ; ) {
      if (!processAlive(pid)) return true
      const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "")
      if (/^\d+ \(.*\) Z/.test(stat)) return true
      if (Date.now() > deadline) return false
      await new Promise((r) => setTimeout(r, 20))
    }
  })

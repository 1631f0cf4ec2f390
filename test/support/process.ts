import * as fs from "node:fs/promises"
import * as net from "node:net"
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

/** A loopback port that was free a moment ago (for a process that must be told its port). */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen({ host: "127.0.0.1", port: 0 }, () => {
    const addr = server.address()
    const port = typeof addr === "object" && addr ? addr.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

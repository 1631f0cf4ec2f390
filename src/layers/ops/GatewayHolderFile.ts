/**
 * GatewayHolder from the state dir's lock: `gateway.lock.json` names the holder, the lock
 * directory's modification time (refreshed every 3 s) vouches that it still holds it. Only a
 * holder that is alive and whose lock is fresh is ever signalled: a pid left in a stale file may
 * belong to another process by now.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Duration, Effect, Layer, Schedule } from "effect"
import { GatewayHolder, type GatewayHolderService, GatewayStopError, type Holder, type StopResult } from "../../services/ServiceManager.js"
import { LOCK_NAME, pidAlive, readOwner } from "./StateLockFile.js"

export interface GatewayHolderOptions {
  /** A lock not refreshed for this long is not fresh (default 10 s, as the lock's own stale time). */
  readonly staleMs?: number | undefined
  /** How often the stop looks again (default 100 ms). */
  readonly pollMs?: number | undefined
}

export const readHolder = (stateDir: string, staleMs = 10_000): Holder | undefined => {
  const owner = readOwner(stateDir)
  if (!owner) return undefined
  let why: string | undefined
  if (!pidAlive(owner.pid)) why = `pid ${owner.pid} is not running`
  else {
    try {
      const age = Date.now() - fs.statSync(path.join(stateDir, LOCK_NAME)).mtimeMs
      if (age > staleMs) why = `its lock has not been refreshed for ${Math.round(age / 1000)} s`
    } catch {
      why = "its lock directory is gone"
    }
  }
  return { ...owner, fresh: why === undefined, why }
}

export const GatewayHolderFile = (stateDir: string, options: GatewayHolderOptions = {}): Layer.Layer<GatewayHolder> =>
  Layer.succeed(
    GatewayHolder,
    (() => {
      const staleMs = options.staleMs ?? 10_000
      const poll = Schedule.spaced(Duration.millis(options.pollMs ?? 100))
      const read = Effect.sync(() => readHolder(stateDir, staleMs))
      const notRunning = (h: Holder | undefined) =>
        new GatewayStopError({
          reason: "NotRunning",
          stateDir,
          message: `no Gateway is running on ${stateDir}${h ? ` (gateway.lock.json names pid ${h.pid}, but ${h.why}: nothing was signalled)` : ""}`
        })
      const signal = (pid: number, sig: NodeJS.Signals) =>
        Effect.try({
          try: () => process.kill(pid, sig),
          catch: (e) =>
            new GatewayStopError({ reason: "Signal", stateDir, message: `cannot send ${sig} to pid ${pid}: ${(e as Error).message}` })
        })
      /** Succeeds once `pid` is gone, looking every `pollMs` on the Clock. */
      const gone = (pid: number) =>
        Effect.repeat(
          Effect.sync(() => pidAlive(pid)),
          { schedule: poll, until: (alive) => !alive }
        )

      const service: GatewayHolderService = {
        stateDir,
        read,
        stop: ({ timeoutMs, force }) =>
          Effect.gen(function* () {
            const h = yield* read
            if (!h?.fresh) return yield* notRunning(h)
            yield* signal(h.pid, "SIGTERM")
            const exited = yield* gone(h.pid).pipe(Effect.timeout(Duration.millis(timeoutMs)), Effect.isSuccess)
            let killed = false
            if (!exited) {
              if (!force) {
                return yield* new GatewayStopError({
                  reason: "Timeout",
                  stateDir,
                  message: `pid ${h.pid} did not exit within ${Math.round(timeoutMs / 1000)} s of SIGTERM (it may still be closing); to kill it: clawgate gateway stop --force`
                })
              }
              // Still the lock holder? Then it is still that Gateway: kill it.
              if (readHolder(stateDir, staleMs)?.pid === h.pid) yield* signal(h.pid, "SIGKILL")
              killed = true
              const died = yield* gone(h.pid).pipe(Effect.timeout(Duration.seconds(5)), Effect.isSuccess)
              if (!died) {
                return yield* new GatewayStopError({ reason: "Timeout", stateDir, message: `pid ${h.pid} survived SIGKILL for 5 s` })
              }
            }
            const released = readOwner(stateDir)?.pid !== h.pid
            return { pid: h.pid, url: h.url, stateDir: h.stateDir, killed, released } satisfies StopResult
          })
      }
      return service
    })()
  )

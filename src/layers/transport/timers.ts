/**
 * The server's timers, one fiber each for all connections (not one per
 * connection: a crowd of idle sockets costs no timers): the tick event, the
 * handshake deadline from TCP accept, pings with the missed-pong budget, and
 * the check that ends sessions whose shared credential was rotated. The
 * handshake and credential sweeps sleep while their table is empty
 * (util/idleSweep.ts): a Gateway nobody is connected to does not wake for them.
 *
 * All of them run on the layer's Clock and Schedule, so the TestClock drives
 * them in tests; they stop when the server's scope closes.
 */
import { credentialHash } from "../../util/secrets.js"
import { Duration, Effect, Redacted, Schedule, type Scope } from "effect"
import { sweepWhileBusy } from "../../util/idleSweep.js"
import { CloseCode } from "../../protocol/frames.js"
import type { AuthService } from "../../services/Auth.js"
import type { Limits } from "./budgets.js"
import type { Connections, RunFork } from "./connection.js"
import type { Fanout } from "./fanout.js"

/** How often the shared token and password are compared with the ones sessions logged in with. */
const CREDENTIAL_CHECK_MS = 500
/** A connection closed for a budget that does not finish its close handshake is cut after this long. */
const CLOSE_GRACE_MS = 1_000

export interface TimersDeps {
  readonly connections: Connections
  readonly fanout: Fanout
  readonly auth: AuthService
  readonly limits: Limits
  readonly tickIntervalMs: number
  readonly runFork: RunFork
  readonly now: () => number
}

export const runTimers = ({ connections: c, fanout, auth, limits, tickIntervalMs, runFork, now }: TimersDeps) =>
  Effect.gen(function* () {
    // One timer ticks every connection.
    yield* Effect.forkScoped(
      Effect.suspend(() => fanout.broadcast({ event: "tick", payload: { ts: Date.now() }, role: "all" })).pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(tickIntervalMs))),
        Effect.delay(Duration.millis(tickIntervalMs))
      )
    )

    // The handshake deadline, from TCP accept: a socket that is neither an HTTP request nor connected by then is cut.
    const deadlineSweep = Effect.sync(() => {
      const t = now()
      for (const [key, entry] of c.pendingSockets) {
        const conn = entry.conn
        if (conn?.closingSince !== undefined) {
          if (t - conn.closingSince >= CLOSE_GRACE_MS) conn.ws.terminate()
          continue
        }
        if (entry.http || t - entry.acceptedAt < limits.handshakeTimeoutMs) continue
        if (conn) c.closeConn(conn, CloseCode.policy, `handshake timeout (gateway.handshakeTimeoutMs ${limits.handshakeTimeoutMs})`)
        else {
          entry.socket.destroy()
          c.removePending(key)
        }
      }
      return c.pendingSockets.size > 0
    })
    yield* Effect.forkScoped(
      sweepWhileBusy(c.added.pending, Duration.millis(Math.max(10, Math.min(250, limits.handshakeTimeoutMs / 4))), deadlineSweep)
    )

    // Pings: a connection that missed `maxMissedPongs` of them in a row (and sent nothing else) is dropped.
    yield* Effect.forkScoped(
      Effect.sync(() => {
        for (const conn of c.conns.values()) {
          if (conn.phase !== "ready") {
            if (conn.closingSince !== undefined && now() - conn.closingSince >= CLOSE_GRACE_MS) conn.ws.terminate()
            continue
          }
          if (conn.missedPongs >= limits.maxMissedPongs) {
            runFork(Effect.logInfo(`dropping ${conn.connId} from ${conn.ip}: ${conn.missedPongs} pings unanswered`))
            conn.phase = "closed"
            conn.ws.terminate()
            continue
          }
          conn.missedPongs += 1
          conn.ws.ping()
        }
      }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(limits.pingIntervalMs))), Effect.delay(Duration.millis(limits.pingIntervalMs)))
    )

    // A rotated (or removed) shared token or password ends the sessions that logged in with the old one. Every
    // session is compared on every tick, so one that finished connect with the old secret after a change is caught too.
    const credentialCheck = Effect.gen(function* () {
      const r = yield* auth.resolved
      const tokenHash = r.mode === "token" && r.token !== undefined ? credentialHash(Redacted.value(r.token)) : undefined
      const passwordHash = r.mode === "password" && r.password !== undefined ? credentialHash(Redacted.value(r.password)) : undefined
      for (const conn of c.conns.values()) {
        const cred = conn.credential
        if (cred === undefined || conn.phase !== "ready") continue
        const stale =
          cred.kind === "token"
            ? cred.hash !== tokenHash
            : cred.kind === "password"
              ? cred.hash !== passwordHash
              : cred.kind === "none"
                ? r.mode !== "none"
                : !r.allowTailscale
        if (!stale) continue
        const what =
          cred.kind === "tailscale"
            ? "Tailscale identity login was turned off"
            : cred.kind === "none"
              ? "Gateway now requires a credential"
              : `gateway ${cred.kind} was changed`
        yield* Effect.logInfo(`closing ${conn.connId} from ${conn.ip}: the ${what}`)
        c.closeConn(conn, CloseCode.deviceRemoved, `the ${what}: reconnect with the new credential`)
      }
    }).pipe(
      Effect.ignore,
      Effect.map(() => c.conns.size > 0)
    )
    yield* Effect.forkScoped(sweepWhileBusy(c.added.conns, Duration.millis(CREDENTIAL_CHECK_MS), credentialCheck))
  }) satisfies Effect.Effect<void, never, Scope.Scope>

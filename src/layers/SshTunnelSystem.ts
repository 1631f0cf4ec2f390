/**
 * SshTunnel over the system `ssh`: `ssh -N -L 127.0.0.1:L:127.0.0.1:R` with
 * batch mode, exit on forward failure, server-alive keepalives and no
 * connection sharing, through @effect/platform's Command. A supervisor fiber
 * restarts it with backoff (1 s → 30 s, a Schedule started over after ssh
 * stayed up 30 s) when it dies; closing the scope stops it (SIGTERM to its
 * process group, then SIGKILL).
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as net from "node:net"
import { Clock, Deferred, Duration, Effect, Fiber, Layer, Ref, Schedule, type Scope } from "effect"
import {
  parseSshTarget,
  SshTunnel,
  SshTunnelError,
  type OpenTunnel,
  type SshTunnelService,
  type TunnelSpec,
  type TunnelState
} from "../services/SshTunnel.js"
import { backoffDelays, startingOver } from "../util/backoff.js"
import { CommandExecutorLive, describeSpawnError, drain, exitStatus, lastLines, startProcess, TailCapture } from "../util/childProcess.js"
import { acceptsOnLoopback } from "../util/net.js"

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)))
  })

const anyFreePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

export const sshArgs = (spec: TunnelSpec, localPort: number): Array<string> => {
  const { destination, port } = parseSshTarget(spec.target)
  // biome-ignore format: each option beside its value
  return [
    "-N",
    "-T",
    ...(spec.sshConfig ? ["-F", spec.sshConfig] : []),
    "-o", "BatchMode=yes",
    "-o", "ExitOnForwardFailure=yes",
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=3",
    "-o", "ControlMaster=no",
    "-o", "ControlPath=none",
    ...(spec.identity ? ["-i", spec.identity, "-o", "IdentitiesOnly=yes"] : []),
    ...(port !== undefined ? ["-p", String(port)] : []),
    "-L", `127.0.0.1:${localPort}:127.0.0.1:${spec.remotePort}`,
    "--",
    destination
  ]
}

/** Between SIGTERM and SIGKILL when ssh is stopped. */
const KILL_GRACE_MS = 2_000
/** The forward must accept connections within this. */
const FORWARD_DEADLINE = Duration.seconds(20)
/** An ssh that stayed up longer than this starts the restart backoff over at 1 s. */
export const RESTART_RESET_AFTER_MS = 30_000

/** Restart delays: 1 s, doubling, capped at 30 s. */
export const restartSchedule = (): Schedule.Schedule<readonly [Duration.Duration, SshDown], SshDown> =>
  startingOver(backoffDelays({ initial: "1 second", max: "30 seconds" }), (down: SshDown) => down.upForMillis > RESTART_RESET_AFTER_MS)

/** Why ssh is down, and how long it had been up (0 when it did not come up). */
export interface SshDown {
  readonly why: string
  readonly upForMillis: number
}

interface Started {
  readonly pid: number
  /** Completes with why ssh exited, once it has. */
  readonly exited: Deferred.Deferred<string>
}

/** One ssh process in the current scope: resolves once the forward accepts connections. */
const startOnce = (
  spec: TunnelSpec,
  localPort: number
): Effect.Effect<Started, SshTunnelError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function* () {
    const args = yield* Effect.try({ try: () => sshArgs(spec, localPort), catch: (e) => e as SshTunnelError })
    const child = yield* startProcess(Command.make("ssh", ...args), { killGraceMs: KILL_GRACE_MS }).pipe(
      Effect.mapError((e) => new SshTunnelError({ reason: "Start", message: `cannot run ssh: ${describeSpawnError(e)}` }))
    )
    const stderr = new TailCapture(4000)
    yield* Effect.forkScoped(drain(child.stdout, () => {}))
    const reading = yield* Effect.forkScoped(drain(child.stderr, stderr.push))
    const exited = yield* Deferred.make<string>()
    yield* exitStatus(child).pipe(
      // What ssh said before it went, as far as it is written by then.
      Effect.zipLeft(Fiber.join(reading).pipe(Effect.timeout("500 millis"), Effect.ignore)),
      Effect.flatMap((status) => {
        const said = stderr.text().trim()
        return Deferred.succeed(exited, `ssh exited (${status.signal ?? status.code})${said ? `: ${lastLines(said)}` : ""}`)
      }),
      Effect.forkScoped
    )
    // Up when the local end accepts connections; failed if ssh exits first.
    const accepting = Effect.promise(() => acceptsOnLoopback(localPort)).pipe(
      Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (up) => up })
    )
    const died = Effect.flatMap(Deferred.await(exited), (why) => new SshTunnelError({ reason: "Start", message: why }))
    yield* Effect.raceFirst(died, accepting).pipe(
      Effect.timeoutFail({
        duration: FORWARD_DEADLINE,
        onTimeout: () =>
          new SshTunnelError({
            reason: "Forward",
            message: `the forward to ${spec.target} did not come up within ${Duration.toSeconds(FORWARD_DEADLINE)} s`
          })
      })
    )
    return { pid: child.pid, exited }
  })

const open = (spec: TunnelSpec) =>
  Effect.gen(function* () {
    yield* Effect.try({ try: () => parseSshTarget(spec.target), catch: (e) => e as SshTunnelError })
    const preferred = spec.localPort ?? spec.remotePort
    const localPort = preferred !== 0 && (yield* Effect.promise(() => portFree(preferred))) ? preferred : yield* Effect.promise(anyFreePort)
    const state = yield* Ref.make<TunnelState>({ state: "restarting", restarts: 0 })

    // The first start must succeed: a wrong host, key or port is reported, not retried.
    const first = yield* startOnce(spec, localPort)
    yield* Ref.set(state, { state: "up", pid: first.pid, restarts: 0 })
    yield* Effect.logInfo(`tunnel up: 127.0.0.1:${localPort} → ${spec.target} port ${spec.remotePort} (ssh pid ${first.pid})`)

    // Supervisor: when ssh dies (sleep, network change), start it again with backoff. One run
    // waits for the ssh it started (the first one, the first time) to die, and fails with why.
    let adopt: Started | undefined = first
    const run = Effect.gen(function* () {
      let ssh = adopt
      adopt = undefined
      if (ssh === undefined) {
        ssh = yield* startOnce(spec, localPort).pipe(Effect.mapError((e): SshDown => ({ why: e.message, upForMillis: 0 })))
        const pid = ssh.pid
        yield* Ref.update(state, (s) => ({ state: "up" as const, pid, restarts: s.restarts + 1 }))
        yield* Effect.logInfo(`tunnel to ${spec.target} restored (ssh pid ${pid})`)
      }
      const since = yield* Clock.currentTimeMillis
      const why = yield* Deferred.await(ssh.exited)
      const upForMillis = (yield* Clock.currentTimeMillis) - since
      return yield* Effect.fail<SshDown>({ why, upForMillis })
    }).pipe(Effect.scoped)
    const schedule = restartSchedule().pipe(
      Schedule.tapOutput(([delay, down]) =>
        Effect.zipRight(
          Ref.update(state, (s) => ({ ...s, state: "restarting" as const, pid: undefined, lastError: down.why })),
          Effect.logWarning(`tunnel to ${spec.target} down: ${down.why}; restarting in ${Duration.toSeconds(delay)} s`)
        )
      )
    )
    yield* Effect.forkScoped(Effect.retry(run, schedule))
    yield* Effect.addFinalizer(() => Ref.update(state, (s) => ({ ...s, state: "stopped" as const })))

    return { spec, localPort, url: `ws://127.0.0.1:${localPort}`, status: Ref.get(state) } satisfies OpenTunnel
  })

/**
 * The system ssh as an SshTunnelService; it brings its own CommandExecutor,
 * so `open` needs only the Scope the tunnel lives in.
 */
export const makeSshTunnelSystem: SshTunnelService = {
  open: (spec) =>
    open(spec).pipe(
      Effect.provide(CommandExecutorLive),
      Effect.withSpan("SshTunnel.open", { attributes: { target: spec.target, remotePort: spec.remotePort } })
    )
}

export const SshTunnelSystem = Layer.succeed(SshTunnel, makeSshTunnelSystem)

/**
 * SshTunnel over the system `ssh`: `ssh -N -L 127.0.0.1:L:127.0.0.1:R` with
 * batch mode, exit on forward failure, server-alive keepalives and no
 * connection sharing. A supervisor fiber restarts it with backoff (1 s → 30 s)
 * when it dies; closing the scope stops it (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as net from "node:net"
import { Deferred, Duration, Effect, Layer, Ref } from "effect"
import {
  parseSshTarget,
  SshTunnel,
  SshTunnelError,
  type OpenTunnel,
  type SshTunnelService,
  type TunnelSpec,
  type TunnelState
} from "../services/SshTunnel.js"
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

const stop = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const kill = setTimeout(() => child.kill("SIGKILL"), 2_000)
    child.once("exit", () => {
      clearTimeout(kill)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

/** One ssh process: resolves once the forward accepts connections; `exited` completes when it dies. */
const startOnce = (spec: TunnelSpec, localPort: number) =>
  Effect.gen(function* () {
    const args = yield* Effect.try({ try: () => sshArgs(spec, localPort), catch: (e) => e as SshTunnelError })
    const exited = yield* Deferred.make<string>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn("ssh", args, { stdio: ["ignore", "ignore", "pipe"] })),
      stop
    )
    let stderr = ""
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    child.once("error", (e) => Deferred.unsafeDone(exited, Effect.succeed(`cannot run ssh: ${e.message}`)))
    child.once("exit", (code, signal) =>
      Deferred.unsafeDone(exited, Effect.succeed(`ssh exited (${signal ?? code})${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" / ")}` : ""}`))
    )
    // Up when the local end accepts connections; failed if ssh exits first.
    const deadline = Date.now() + 20_000
    for (;;) {
      if (yield* Deferred.isDone(exited)) {
        return yield* new SshTunnelError({ reason: "Start", message: yield* Deferred.await(exited) })
      }
      if (yield* Effect.promise(() => acceptsOnLoopback(localPort))) break
      if (Date.now() > deadline) {
        return yield* new SshTunnelError({ reason: "Forward", message: `the forward to ${spec.target} did not come up within 20 s` })
      }
      yield* Effect.sleep("100 millis")
    }
    return { child, exited }
  })

export const makeSshTunnelSystem: SshTunnelService = {
  open: (spec) =>
    Effect.gen(function* () {
      yield* Effect.try({ try: () => parseSshTarget(spec.target), catch: (e) => e as SshTunnelError })
      const preferred = spec.localPort ?? spec.remotePort
      const localPort =
        preferred !== 0 && (yield* Effect.promise(() => portFree(preferred))) ? preferred : yield* Effect.promise(anyFreePort)
      const state = yield* Ref.make<TunnelState>({ state: "restarting", restarts: 0 })
      const scope = yield* Effect.scope

      // The first start must succeed: a wrong host, key or port is reported, not retried.
      const first = yield* startOnce(spec, localPort)
      yield* Ref.set(state, { state: "up", pid: first.child.pid, restarts: 0 })
      yield* Effect.logInfo(`tunnel up: 127.0.0.1:${localPort} → ${spec.target} port ${spec.remotePort} (ssh pid ${first.child.pid})`)

      // Supervisor: when ssh dies (sleep, network change), start it again with backoff.
      const supervise = (exited: Deferred.Deferred<string>, upSince: number, delay: number): Effect.Effect<never> =>
        Effect.gen(function* () {
          const why = yield* Deferred.await(exited)
          const backoff = Date.now() - upSince > 30_000 ? 1_000 : delay
          yield* Ref.update(state, (s) => ({ ...s, state: "restarting" as const, pid: undefined, lastError: why }))
          yield* Effect.logWarning(`tunnel to ${spec.target} down: ${why}; restarting in ${backoff / 1000} s`)
          yield* Effect.sleep(Duration.millis(backoff))
          const next = yield* startOnce(spec, localPort).pipe(Effect.either)
          if (next._tag === "Left") {
            const failed = yield* Deferred.make<string>()
            yield* Deferred.succeed(failed, next.left.message)
            return yield* supervise(failed, Date.now() - 60_000, Math.min(backoff * 2, 30_000))
          }
          yield* Ref.update(state, (s) => ({ state: "up" as const, pid: next.right.child.pid, restarts: s.restarts + 1 }))
          yield* Effect.logInfo(`tunnel to ${spec.target} restored (ssh pid ${next.right.child.pid})`)
          return yield* supervise(next.right.exited, Date.now(), Math.min(backoff * 2, 30_000))
        }).pipe(Effect.scoped) as Effect.Effect<never>
      yield* Effect.forkIn(supervise(first.exited, Date.now(), 1_000), scope)
      yield* Effect.addFinalizer(() => Ref.update(state, (s) => ({ ...s, state: "stopped" as const })))

      return { spec, localPort, url: `ws://127.0.0.1:${localPort}`, status: Ref.get(state) } satisfies OpenTunnel
    })
}

export const SshTunnelSystem = Layer.succeed(SshTunnel, makeSshTunnelSystem)

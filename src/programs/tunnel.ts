/**
 * `clawgate tunnel <[user@]host>`: a supervised SSH forward to a remote
 * Gateway's loopback port, announced so other commands reuse it, until
 * interrupted. Written against the SshTunnel and TunnelRegistry tags.
 */
import { Console, Effect } from "effect"
import { SshTunnel, type TunnelSpec } from "../services/SshTunnel.js"
import { TunnelRegistry } from "../services/TunnelRegistry.js"
import { UsageError } from "./errors.js"

/** Opens the supervised tunnel and announces it (until the scope closes), so other commands reuse it. */
export const openAnnouncedTunnel = (spec: TunnelSpec) =>
  Effect.gen(function* () {
    const ssh = yield* SshTunnel
    const registry = yield* TunnelRegistry
    const tunnel = yield* ssh
      .open(spec)
      .pipe(Effect.mapError((e) => new UsageError({ message: `ssh tunnel to ${spec.target}: ${e.message}` })))
    yield* registry.announce({
      pid: process.pid,
      localPort: tunnel.localPort,
      target: spec.target,
      remotePort: spec.remotePort,
      startedAtMs: Date.now()
    })
    return tunnel
  })

export const runTunnel = (spec: TunnelSpec) =>
  Effect.gen(function* () {
    const tunnel = yield* openAnnouncedTunnel(spec)
    yield* Console.log(
      `tunnel up: ${tunnel.url} → ${spec.target} (Gateway port ${spec.remotePort}); use it with --url ${tunnel.url}, ` +
        `or let remote commands reuse it (gateway.remote.transport "ssh"). Ctrl-C to stop.`
    )
    return yield* Effect.never
  })

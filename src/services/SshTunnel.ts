/**
 * SshTunnel: a local port forwarded to a Gateway's loopback port through the
 * system `ssh` client (so the user's ~/.ssh/config, agent and keys apply),
 * supervised: restarted with backoff when ssh dies, stopped with the scope.
 */
import { Context, Data, type Effect, type Scope } from "effect"

export interface TunnelSpec {
  /** `user@host` or `host`, optionally `:port` for sshd's port. Never starts with `-`. */
  readonly target: string
  readonly identity?: string | undefined
  /** Preferred local port; a free one is picked when it is taken. */
  readonly localPort?: number | undefined
  /** The Gateway's port on the remote host (it listens on its loopback). */
  readonly remotePort: number
  /** An ssh config file to use instead of ~/.ssh/config (`ssh -F`). */
  readonly sshConfig?: string | undefined
}

export interface TunnelState {
  readonly state: "up" | "restarting" | "stopped"
  readonly pid?: number | undefined
  readonly restarts: number
  readonly lastError?: string | undefined
}

export interface OpenTunnel {
  readonly spec: TunnelSpec
  readonly localPort: number
  /** `ws://127.0.0.1:<localPort>`. */
  readonly url: string
  readonly status: Effect.Effect<TunnelState>
}

export class SshTunnelError extends Data.TaggedError("SshTunnelError")<{
  readonly reason: "Target" | "Start" | "Forward"
  readonly message: string
}> {}

export interface SshTunnelService {
  /** Opens the tunnel and waits until the forward accepts connections; supervised until the scope closes. */
  readonly open: (spec: TunnelSpec) => Effect.Effect<OpenTunnel, SshTunnelError, Scope.Scope>
}

export class SshTunnel extends Context.Tag("clawgate/SshTunnel")<SshTunnel, SshTunnelService>() {}

/** Splits `user@host[:port]`, refusing anything ssh could read as an option. */
export const parseSshTarget = (text: string): { readonly destination: string; readonly port?: number | undefined } => {
  const t = text.trim()
  if (t === "" || t.startsWith("-") || /\s/.test(t)) {
    throw new SshTunnelError({
      reason: "Target",
      message: `"${text}" is not an ssh target: use user@host or user@host:port (a target may not start with "-")`
    })
  }
  // Always matches (everything may be the destination); an empty destination is refused below.
  const m = /^(.*?)(?::(\d+))?$/.exec(t)
  const destination = m?.[1] ?? ""
  const portText = m?.[2]
  if (destination === "" || destination.startsWith("-") || destination.endsWith("@")) {
    throw new SshTunnelError({ reason: "Target", message: `"${text}" is not an ssh target: use user@host or user@host:port` })
  }
  const port = portText === undefined ? undefined : Number(portText)
  if (port !== undefined && (port < 1 || port > 65535)) {
    throw new SshTunnelError({ reason: "Target", message: `the ssh port in "${text}" must be from 1 to 65535` })
  }
  return { destination, port }
}

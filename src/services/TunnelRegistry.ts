/**
 * TunnelRegistry: the `clawgate tunnel` processes running on this host, so
 * other commands reuse a running forward instead of opening their own.
 */
import { Context, type Effect, type Scope } from "effect"

export interface TunnelRecord {
  readonly pid: number
  readonly localPort: number
  readonly target: string
  readonly remotePort: number
  readonly startedAtMs: number
}

export interface TunnelRegistryService {
  /** This process runs a tunnel: announced until the scope closes. */
  readonly announce: (record: TunnelRecord) => Effect.Effect<void, never, Scope.Scope>
  /** A live tunnel to `target`/`remotePort` (its process alive, its port accepting), if one is running. */
  readonly find: (target: string, remotePort: number) => Effect.Effect<TunnelRecord | undefined>
}

export class TunnelRegistry extends Context.Tag("clawgate/TunnelRegistry")<TunnelRegistry, TunnelRegistryService>() {}

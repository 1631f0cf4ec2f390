/**
 * Tailscale: the local Tailscale daemon, as the Gateway uses it. `serve`
 * publishes the Gateway's loopback port on the tailnet (Serve) or the public
 * internet (Funnel); `reset` takes that down again; `whois` says which
 * Tailscale user a tailnet address belongs to, so a request that Tailscale
 * Serve forwarded can be checked against the identity header it carries.
 */
import { Context, Data, type Effect, type Option } from "effect"

export interface ServeOptions {
  /** Publish on the public internet (`tailscale funnel`) instead of the tailnet only. */
  readonly funnel: boolean
  /** Where Tailscale proxies to, e.g. `http://127.0.0.1:18789` (`https+insecure://...` with the Gateway's own TLS). */
  readonly target: string
}

/** What `tailscale serve status --json` says is published now. */
export interface ServeStatus {
  /** Something is served (Serve or Funnel). */
  readonly serving: boolean
  /** Some of it is on Funnel (the public internet). */
  readonly funnel: boolean
  /** Where it proxies to (e.g. `http://127.0.0.1:18789`), a bounded number. */
  readonly proxies: ReadonlyArray<string>
}

export class TailscaleError extends Data.TaggedError("TailscaleError")<{
  /** NotFound: no `tailscale` executable; Failed: it exited non-zero; Timeout; Output: unreadable answer. */
  readonly reason: "NotFound" | "Failed" | "Timeout" | "Output"
  /** The command line that was run, for messages. */
  readonly command: string
  readonly message: string
}> {}

export interface TailscaleService {
  readonly serve: (options: ServeOptions) => Effect.Effect<void, TailscaleError>
  readonly reset: (options: { readonly funnel: boolean }) => Effect.Effect<void, TailscaleError>
  /**
   * The login name (`UserProfile.LoginName`) of the Tailscale user who owns
   * the node at `ip`; none for a node without a user (a tagged device).
   * Answers are cached briefly; lookups are bounded in number and time.
   */
  readonly whois: (ip: string) => Effect.Effect<Option.Option<string>, TailscaleError>
  /** What Serve and Funnel publish now (`tailscale serve status --json`), for `clawgate doctor`. */
  readonly serveStatus: Effect.Effect<ServeStatus, TailscaleError>
}

export class Tailscale extends Context.Tag("clawgate/Tailscale")<Tailscale, TailscaleService>() {}

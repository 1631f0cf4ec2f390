/**
 * HttpRoutes: extra HTTP routes on the Gateway's own port, added by the
 * services that receive calls from outside (Telegram's webhook) or serve
 * files (the Control UI). The transport asks it first for an exact route,
 * then answers its own probes, then asks for a prefix route; a route lives as
 * long as the scope that added it.
 */
import type * as http from "node:http"
import { Context, type Effect, type Scope } from "effect"

/** Answers one request; a plain callback, so the transport runs it without a fiber. */
export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

export interface HttpRoutesService {
  /** Serves `method path` with `handler` until the current scope closes. */
  readonly add: (method: string, path: string, handler: HttpHandler) => Effect.Effect<void, never, Scope.Scope>
  /** The handler for this request line, if a service added one. */
  readonly find: (method: string | undefined, path: string) => HttpHandler | undefined
  /**
   * Serves every path under `prefix` (which ends with "/"), and the prefix without its slash, with
   * `handler`, for any method, until the current scope closes. Exact routes and the probes come first;
   * the handler sees the raw request and checks the method and path itself.
   */
  readonly addPrefix: (prefix: string, handler: HttpHandler) => Effect.Effect<void, never, Scope.Scope>
  /** The handler of the longest prefix that covers `path`, if any; none for a path that has an exact route (any method). */
  readonly findPrefix: (path: string) => HttpHandler | undefined
}

export class HttpRoutes extends Context.Tag("clawgate/HttpRoutes")<HttpRoutes, HttpRoutesService>() {}

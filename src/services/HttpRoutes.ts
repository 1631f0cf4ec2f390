/**
 * HttpRoutes: extra HTTP routes on the Gateway's own port, added by the
 * services that receive calls from outside (Telegram's webhook). The
 * transport asks it first for any request that is not a WebSocket upgrade;
 * a route lives as long as the scope that added it.
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
}

export class HttpRoutes extends Context.Tag("clawgate/HttpRoutes")<HttpRoutes, HttpRoutesService>() {}

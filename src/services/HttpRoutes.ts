/**
 * HttpRoutes: extra HTTP routes on the Gateway's own port, added by the
 * services that receive calls from outside (Telegram's webhook). The
 * transport asks it first for any request that is not a WebSocket upgrade;
 * a route lives as long as the scope that added it.
 */
import type * as http from "node:http"
import { Effect } from "effect"

/** Answers one request; a plain callback, so the transport runs it without a fiber. */
export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

export class HttpRoutes extends Effect.Service<HttpRoutes>()("clawgate/HttpRoutes", {
  sync: () => {
    const routes = new Map<string, HttpHandler>()
    const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`
    return {
      /** Serves `method path` with `handler` until the current scope closes. */
      add: (method: string, path: string, handler: HttpHandler) =>
        Effect.acquireRelease(
          Effect.sync(() => void routes.set(key(method, path), handler)),
          () => Effect.sync(() => void routes.delete(key(method, path)))
        ),
      /** The handler for this request line, if a service added one. */
      find: (method: string | undefined, path: string): HttpHandler | undefined => routes.get(key(method ?? "GET", path))
    }
  }
}) {}

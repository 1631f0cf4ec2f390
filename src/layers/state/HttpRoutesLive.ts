import { Effect } from "effect"
import { HttpRoutes, type HttpHandler } from "../../services/HttpRoutes.js"
import { Layer } from "effect"

const make = () => {
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

export const HttpRoutesLive = Layer.sync(HttpRoutes, make)

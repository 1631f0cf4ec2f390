import { Effect, Layer } from "effect"
import { HttpRoutes, type HttpHandler, type HttpRoutesService } from "../../services/HttpRoutes.js"

const make = (): HttpRoutesService => {
  const routes = new Map<string, HttpHandler>()
  /** Paths with an exact route, for any method: never a prefix route's (GET on a webhook is not a page). */
  const exactPaths = new Map<string, number>()
  const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`
  // Longest first, so "/ui/admin/" wins over "/ui/" and "/".
  let prefixes: ReadonlyArray<{ readonly prefix: string; readonly handler: HttpHandler }> = []
  const covers = (prefix: string, path: string) => path.startsWith(prefix) || (prefix.length > 1 && path === prefix.slice(0, -1))
  return {
    add: (method, path, handler) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          routes.set(key(method, path), handler)
          exactPaths.set(path, (exactPaths.get(path) ?? 0) + 1)
        }),
        () =>
          Effect.sync(() => {
            routes.delete(key(method, path))
            const left = (exactPaths.get(path) ?? 1) - 1
            if (left > 0) exactPaths.set(path, left)
            else exactPaths.delete(path)
          })
      ),
    find: (method, path) => routes.get(key(method ?? "GET", path)),
    addPrefix: (prefix, handler) => {
      const entry = { prefix: prefix.endsWith("/") ? prefix : `${prefix}/`, handler }
      return Effect.acquireRelease(
        Effect.sync(() => void (prefixes = [...prefixes, entry].sort((a, b) => b.prefix.length - a.prefix.length))),
        () => Effect.sync(() => void (prefixes = prefixes.filter((p) => p !== entry)))
      )
    },
    findPrefix: (path) => (exactPaths.has(path) ? undefined : prefixes.find((p) => covers(p.prefix, path))?.handler)
  }
}

export const HttpRoutesLive = Layer.sync(HttpRoutes, make)

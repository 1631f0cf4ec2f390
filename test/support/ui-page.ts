/**
 * The Control UI in a real browser before the Gateway serves it: src/ui
 * bundled with esbuild into a temp dir, served by a small node:http server
 * on port 0 under a strict CSP, and every WebSocket upgrade passed through,
 * byte for byte, to a Gateway. The page's origin is the server's, so the
 * page connects to it (its own origin) and reaches the Gateway through it,
 * headers untouched: the Gateway sees a browser's Origin and Host, as behind
 * any plain TCP forwarder.
 *
 * Once the Gateway serves dist/ui itself, browser tests load it from there.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"
import { build } from "esbuild"

/** The CSP the Gateway is to serve the UI with: scripts, styles and sockets from self only. */
export const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

/** Bundles src/ui/main.tsx (as the project's build will) into a temp dir; returns the dir and the entry files. */
export const bundleUi = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "clawgate-ui-"))
    const result = await build({
      entryPoints: ["src/ui/main.tsx"],
      outdir: dir,
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      jsx: "automatic",
      jsxImportSource: "preact",
      entryNames: "[name]-[hash]",
      metafile: true,
      logLevel: "warning"
    })
    const outputs = Object.keys(result.metafile.outputs).map((o) => path.basename(o))
    const js = outputs.find((o) => o.startsWith("main-") && o.endsWith(".js"))!
    const css = outputs.find((o) => o.endsWith(".css"))
    const html =
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
      `<title>clawgate</title><link rel="icon" href="data:,">${css ? `<link rel="stylesheet" href="./${css}">` : ""}<script type="module" src="./${js}"></script>` +
      '</head><body><div id="app"></div></body></html>'
    await fs.writeFile(path.join(dir, "index.html"), html)
    return { dir, outputs }
  }),
  ({ dir }) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

export interface UiServer {
  readonly url: string
  readonly port: number
  /** Upgrades passed through so far. */
  readonly upgrades: () => number
  /** Cuts every passed-through WebSocket at once (a dropped connection, as a flaky network does it). */
  readonly dropSockets: () => void
}

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8"
}

/** Serves `dir` under `host` on port 0 and passes WebSocket upgrades to the Gateway on `gatewayPort` (loopback). */
export const serveUi = (dir: string, gatewayPort: number, host = "127.0.0.1"): Effect.Effect<UiServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<UiServer & { server: http.Server; sockets: Set<net.Socket> }>((resolve) => {
          const sockets = new Set<net.Socket>()
          let upgrades = 0
          const server = http.createServer(async (req, res) => {
            const pathname = new URL(req.url ?? "/", "http://x").pathname
            const file = pathname === "/" ? "index.html" : path.basename(pathname)
            try {
              const body = await fs.readFile(path.join(dir, file))
              res.writeHead(200, {
                "content-type": types[path.extname(file)] ?? "application/octet-stream",
                "content-security-policy": UI_CSP,
                "x-content-type-options": "nosniff",
                "cache-control": "no-store"
              })
              res.end(req.method === "HEAD" ? undefined : body)
            } catch {
              res.writeHead(404).end()
            }
          })
          server.on("upgrade", (req, client, head) => {
            upgrades++
            const upstream = net.connect(gatewayPort, "127.0.0.1", () => {
              const lines = [`${req.method} ${req.url} HTTP/1.1`]
              for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
              upstream.write(`${lines.join("\r\n")}\r\n\r\n`)
              if (head.length > 0) upstream.write(head)
              upstream.pipe(client)
              client.pipe(upstream)
            })
            const sock = client as net.Socket
            sockets.add(sock)
            sockets.add(upstream)
            const end = () => {
              sockets.delete(sock)
              sockets.delete(upstream)
              sock.destroy()
              upstream.destroy()
            }
            upstream.on("error", end)
            upstream.on("close", end)
            sock.on("error", end)
            sock.on("close", end)
          })
          server.listen(0, host, () => {
            const port = (server.address() as net.AddressInfo).port
            resolve({
              url: `http://${host}:${port}/`,
              port,
              server,
              sockets,
              upgrades: () => upgrades,
              dropSockets: () => {
                for (const s of [...sockets]) s.destroy()
              }
            })
          })
        })
    ),
    ({ server, sockets }) =>
      Effect.promise(
        () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy()
            server.closeAllConnections()
            server.close(() => r())
          })
      )
  )

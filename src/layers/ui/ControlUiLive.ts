/**
 * The Control UI on the Gateway's own port: the files the build wrote to
 * dist/ui, read into memory at start (staticSite.ts) and served under
 * `gateway.controlUi.basePath` through a prefix route of HttpRoutes, after the
 * probes. `gateway.controlUi.enabled: false` adds no route (404); files that
 * are missing or do not match their manifest leave the Gateway running and
 * every page answering 503 with what to run.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Either, Layer } from "effect"
import { normalizeBasePath } from "../../config/basePath.js"
import type { ClawgateConfig } from "../../config/schema.js"
import { ConfigStore } from "../../services/Config.js"
import { ControlUi, type ControlUiService } from "../../services/ControlUi.js"
import { GatewayServer } from "../../services/GatewayServer.js"
import { HttpRoutes } from "../../services/HttpRoutes.js"
import { CONTROL_UI_CSP, loadSite, makeSiteHandler, securityHeaders } from "./staticSite.js"

/**
 * `<package>/dist/ui`: the package is the first directory above this module with a package.json
 * (dist/ when bundled, src/layers/ui/ when run from source).
 */
export const defaultControlUiRoot = (from: string = fileURLToPath(import.meta.url)): string => {
  let dir = path.dirname(from)
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(dir, "package.json"))) return path.join(dir, "dist", "ui")
    const up = path.dirname(dir)
    if (up === dir) break
    dir = up
  }
  return path.join(process.cwd(), "dist", "ui")
}

export interface ControlUiOptions {
  /** The directory of built files (default: this package's dist/ui). */
  readonly root?: string | undefined
}

export const makeControlUi = (options: ControlUiOptions = {}) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const routes = yield* HttpRoutes
    // An invalid config stops the server's start with its own message; here it only means the defaults.
    const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
    const settings = cfg.gateway?.controlUi
    const basePath = normalizeBasePath(settings?.basePath)
    const root = options.root ?? defaultControlUiRoot()
    if (settings?.enabled === false) {
      return ControlUi.of({
        state: "disabled",
        basePath,
        root,
        detail: "gateway.controlUi.enabled is false",
        files: 0,
        bytes: 0,
        loadMs: 0
      })
    }
    const headers = securityHeaders(CONTROL_UI_CSP)
    const [took, site] = yield* Effect.timed(Effect.either(loadSite(root, headers)))
    const loadMs = Duration.toMillis(took)
    yield* routes.addPrefix(basePath, makeSiteHandler(site, { basePath, headers }))
    return Either.match(site, {
      onLeft: (e): ControlUiService => ({ state: "unbuilt", basePath, root, detail: e.message, files: 0, bytes: 0, loadMs }),
      onRight: (s): ControlUiService => ({ state: "serving", basePath, root, files: s.files.size, bytes: s.bytes, loadMs })
    })
  })

/** The Control UI's files and route; needs Config and HttpRoutes, and is built before the server listens. */
export const ControlUiLive = (options: ControlUiOptions = {}) => Layer.scoped(ControlUi, makeControlUi(options))

/** Says at start where the Control UI is, or why it is not there; built once the server listens. */
export const ControlUiAnnounce = Layer.effectDiscard(
  Effect.gen(function* () {
    const ui = yield* ControlUi
    const server = yield* GatewayServer
    const origin = server.url.replace(/^ws/, "http")
    switch (ui.state) {
      case "serving":
        return yield* Effect.logInfo(
          `control UI at ${origin}${ui.basePath} (${ui.files} files, ${Math.round(ui.bytes / 1024)} KB in memory, read in ${ui.loadMs.toFixed(0)} ms)`
        )
      case "disabled":
        return yield* Effect.logInfo(`control UI disabled (gateway.controlUi.enabled is false): ${origin}${ui.basePath} answers 404`)
      case "unbuilt":
        return yield* Effect.logWarning(
          `control UI not served: ${ui.detail}; ${origin}${ui.basePath} answers 503 until you run \`npm run build\` and restart`
        )
    }
  })
)

/**
 * The Control UI on the Gateway's own port: the files the build wrote to
 * dist/ui, read into memory at start (staticSite.ts) and served under
 * `gateway.controlUi.basePath` through a prefix route of HttpRoutes, after the
 * probes. `gateway.controlUi.enabled: false` adds no route (404); files that
 * are missing or do not match their manifest leave the Gateway running and
 * every page answering 503 with what to run.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Either, Layer } from "effect"
import { normalizeBasePath } from "../../config/basePath.js"
import type { ClawgateConfig } from "../../config/schema.js"
import { ConfigStore } from "../../services/Config.js"
import { ControlUi, type ControlUiService } from "../../services/ControlUi.js"
import { GatewayServer } from "../../services/GatewayServer.js"
import { HttpRoutes } from "../../services/HttpRoutes.js"
import { CONTROL_UI_CSP, loadDirectorySite, loadSite, makeSiteHandler, ROOT_UI_CSP, securityHeaders } from "./staticSite.js"

const ROOT_KEY = "gateway.controlUi.root"

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
    // `gateway.controlUi.root`: another UI's directory, relative to the config file's directory.
    const configured =
      options.root === undefined && settings?.root !== undefined
        ? path.resolve(path.dirname(config.paths.configPath), settings.root.replace(/^~(?=$|\/)/, os.homedir()))
        : undefined
    const root = options.root ?? configured ?? defaultControlUiRoot()
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
    const headers = securityHeaders(configured === undefined ? CONTROL_UI_CSP : ROOT_UI_CSP)
    const load = configured === undefined ? loadSite(root, headers) : loadDirectorySite(root, ROOT_UI_CSP, ROOT_KEY)
    const [took, site] = yield* Effect.timed(Effect.either(load))
    const loadMs = Duration.toMillis(took)
    const unavailable =
      configured === undefined || Either.isRight(site)
        ? undefined
        : `The Control UI is not available: ${site.left.message}. Fix ${ROOT_KEY} in the config, or remove it to serve clawgate's own UI, then restart the Gateway.`
    yield* routes.addPrefix(basePath, makeSiteHandler(site, { basePath, headers, unavailable }))
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
        if (ui.detail?.startsWith(ROOT_KEY))
          return yield* Effect.logWarning(
            `control UI not served: ${ui.detail}; ${origin}${ui.basePath} answers 503 until you fix it and restart`
          )
        return yield* Effect.logWarning(
          `control UI not served: ${ui.detail}; ${origin}${ui.basePath} answers 503 until you run \`npm run build\` and restart`
        )
    }
  })
)

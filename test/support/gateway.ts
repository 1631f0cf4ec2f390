/**
 * A real Gateway for tests: its own temp state dir and config file, bound to
 * port 0 on loopback, built from the same layers as `clawgate gateway run`.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Layer, type Scope } from "effect"
import { GatewayLive, type GatewayLayerOptions } from "../../src/layers/Gateway.js"
import { GatewayServer } from "../../src/services/GatewayServer.js"

export const tempDir = (prefix = "clawgate-test-") =>
  Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )

export const writeConfig = (dir: string, config: unknown) =>
  Effect.promise(() => fs.writeFile(path.join(dir, "clawgate.json"), JSON.stringify(config, null, 2), { mode: 0o600 }))

export interface TestGateway {
  readonly url: string
  readonly port: number
  readonly stateDir: string
  readonly configPath: string
  readonly server: Context.Tag.Service<typeof GatewayServer>
  /** Every service of the running Gateway, for tests that read its state (GatewayState, Presence, ...). */
  readonly context: Context.Context<unknown>
}

export const TOKEN = "test-token-0123456789abcdef"

/** Starts a Gateway with `config` (default: a known token) and stops it with the scope. */
export const startGateway = (
  config: Record<string, unknown> = { gateway: { auth: { token: TOKEN } } },
  options: GatewayLayerOptions = {},
  env: Record<string, string> = {}
): Effect.Effect<TestGateway, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const stateDir = yield* tempDir()
    yield* writeConfig(stateDir, config)
    const layer = GatewayLive(
      { console: false, ...options, flags: { port: 0, ...options.flags } },
      { CLAWGATE_STATE_DIR: stateDir, ...env }
    )
    const ctx = yield* Layer.build(layer)
    const server = Context.get(ctx, GatewayServer)
    return {
      url: server.url,
      port: server.port,
      stateDir,
      configPath: path.join(stateDir, "clawgate.json"),
      server,
      context: ctx as Context.Context<unknown>
    }
  })

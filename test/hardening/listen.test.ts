/**
 * Listeners are resources: a start that fails after the Gateway listened (the generated token cannot be
 * stored, right after listening; Tailscale Serve refusing, the last step) closes every listener it bound,
 * so the port is free again at once, on 127.0.0.1 and on ::1 (the default loopback bind holds both where
 * the host has IPv6).
 */
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { makeConfigMemory } from "../../src/layers/ConfigMemory.js"
import { GatewayWithServer } from "../../src/layers/Gateway.js"
import { ConfigStore, ConfigError } from "../../src/services/Config.js"
import { Tailscale, TailscaleError } from "../../src/services/Tailscale.js"
import { startGateway, tempDir, TOKEN } from "../support/gateway.js"
import { freePort } from "../support/process.js"

/** Whether `host:port` can be listened on right now (closed again at once). */
const canListen = (host: string, port: number) =>
  Effect.async<boolean>((resume) => {
    const server = net.createServer()
    server.once("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code === "EADDRNOTAVAIL")))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resume(Effect.succeed(true))))
  })

/** A port nobody holds on 127.0.0.1 (nor, where there is one, ::1). */
/** Tailscale whose `serve` fails, as when the tailnet is down. */
const ServeFails = Layer.succeed(
  Tailscale,
  Tailscale.of({
    serve: () => Effect.fail(new TailscaleError({ reason: "Failed", command: "tailscale serve", message: "tailscaled is not running" })),
    reset: () => Effect.void,
    whois: () => Effect.fail(new TailscaleError({ reason: "Failed", command: "tailscale whois", message: "not running" })),
    serveStatus: Effect.fail(new TailscaleError({ reason: "Failed", command: "tailscale serve status", message: "not running" }))
  })
)

/** A config in memory (state in `stateDir`) that cannot be written, as on a read-only disk. */
const Unwritable = (stateDir: string) =>
  Layer.effect(
    ConfigStore,
    Effect.map(makeConfigMemory({}, { stateDir }), (config) => ({
      ...config,
      update: () => Effect.fail(new ConfigError({ reason: "Io", path: "(memory)", message: "read-only file system" }))
    }))
  )

describe("listening", () => {
  it.scopedLive("a first start whose generated token cannot be stored fails, and leaves the port free", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const stateDir = yield* tempDir()
      const layer = GatewayWithServer({ console: false, database: "memory", flags: { port } }).pipe(
        Layer.provideMerge(Unwritable(stateDir))
      )
      const error = yield* Effect.scoped(Layer.build(layer)).pipe(Effect.flip)
      expect(String((error as { message?: string }).message)).toContain("cannot store the generated gateway token")
      expect(yield* canListen("127.0.0.1", port)).toBe(true)
      expect(yield* canListen("::1", port)).toBe(true)
    })
  )

  it.live("a start that fails after listening releases every listener: the port is free again", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const error = yield* Effect.scoped(
        startGateway({ gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve" } } }, { tailscale: ServeFails, flags: { port } })
      ).pipe(Effect.flip)
      expect(String((error as { message?: string }).message)).toContain('gateway.tailscale.mode "serve"')
      expect(yield* canListen("127.0.0.1", port)).toBe(true)
      expect(yield* canListen("::1", port)).toBe(true)
      // And a Gateway can start on it straight away.
      const gw = yield* Effect.scoped(Effect.map(startGateway({ gateway: { auth: { token: TOKEN } } }, { flags: { port } }), (g) => g.port))
      expect(gw).toBe(port)
    })
  )

  it.live("a taken port refuses the start, naming the setting to change, and holds nothing", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const blocker = net.createServer()
      yield* Effect.async<void>((resume) => void blocker.listen({ host: "127.0.0.1", port }, () => resume(Effect.void)))
      const error = yield* Effect.scoped(startGateway({ gateway: { auth: { token: TOKEN } } }, { flags: { port } })).pipe(Effect.flip)
      yield* Effect.async<void>((resume) => void blocker.close(() => resume(Effect.void)))
      expect(String((error as { message?: string }).message)).toContain(`port ${port} on 127.0.0.1 is already in use`)
      expect(yield* canListen("127.0.0.1", port)).toBe(true)
      expect(yield* canListen("::1", port)).toBe(true)
    })
  )
})

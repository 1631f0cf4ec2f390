/**
 * `clawgate gateway run`: the Gateway in the foreground until SIGINT/SIGTERM.
 */
import { Console, Effect, Option } from "effect"
import { ConfigStore } from "../services/Config.js"
import { GatewayServer } from "../services/GatewayServer.js"
import { StateLock } from "../services/StateLock.js"

export const firstStartBanner = (token: string, configPath: string, url: string, tlsFingerprint?: string): string =>
  [
    "",
    "  clawgate: no gateway credential was configured, so a token was generated.",
    `  It is saved in ${configPath} (gateway.auth.token) and shown only this once:`,
    "",
    `      ${token}`,
    "",
    "  Next, in another terminal on this machine (the CLI reads the token from the config):",
    "      npx clawgate health",
    "  From another client:",
    `      npx clawgate gateway call health --url ${url} --token <the token above>${tlsFingerprint ? ` --tls-fingerprint sha256:${tlsFingerprint}` : ""}`,
    ""
  ].join("\n")

export const gatewayRun = Effect.gen(function* () {
  const server = yield* GatewayServer
  const config = yield* ConfigStore
  // The state dir's lock (taken by the CLI before anything loaded); embedded and test Gateways run without one.
  const lock = yield* Effect.serviceOption(StateLock)
  if (Option.isSome(lock)) {
    if (lock.value.tookOver) yield* Effect.logWarning(`took over ${lock.value.tookOver} on ${lock.value.stateDir}`)
    yield* lock.value.recordUrl(server.url)
  }
  if (server.generatedToken) {
    // Straight to stdout, never through the logger: the log file must not hold the token.
    yield* Console.log(firstStartBanner(server.generatedToken, config.paths.configPath, server.url, server.tlsFingerprint))
  }
  if (server.tlsFingerprint) {
    yield* Console.log(`TLS certificate fingerprint (pin it on clients with --tls-fingerprint): sha256:${server.tlsFingerprint}`)
  }
  yield* Console.log(`clawgate gateway ready on ${server.url} (Ctrl-C to stop)`)
  // bin/clawgate.mjs turns V8's compilers back on for what requests run (start-up ran without them).
  yield* Effect.sync(() => process.emit("clawgate:started" as never))
  if (Option.isNone(lock)) return yield* Effect.never
  // Runs until SIGINT/SIGTERM, or until the lock is lost: then it stops cleanly, with the reason logged.
  return yield* lock.value.lost.pipe(Effect.tapError((e) => Effect.logError(e.message)))
})

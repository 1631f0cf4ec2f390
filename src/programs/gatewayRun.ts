/**
 * `clawgate gateway run`: the Gateway in the foreground until SIGINT/SIGTERM.
 */
import { Console, Effect } from "effect"
import { ConfigStore } from "../services/Config.js"
import { GatewayServer } from "../services/GatewayServer.js"

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
  if (server.generatedToken) {
    // Straight to stdout, never through the logger: the log file must not hold the token.
    yield* Console.log(firstStartBanner(server.generatedToken, config.paths.configPath, server.url, server.tlsFingerprint))
  }
  if (server.tlsFingerprint) {
    yield* Console.log(`TLS certificate fingerprint (pin it on clients with --tls-fingerprint): sha256:${server.tlsFingerprint}`)
  }
  yield* Console.log(`clawgate gateway ready on ${server.url} (Ctrl-C to stop)`)
  return yield* Effect.never
})

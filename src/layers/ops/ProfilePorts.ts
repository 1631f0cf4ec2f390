/**
 * The ports other profiles on this host use, so a new profile's default port is one nobody else
 * has: their `gateway.port`, else their own default. Read from `~/.clawgate-*` config files,
 * each bounded (a config is small; a huge or unreadable one is skipped, not parsed).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import JSON5 from "json5"
import { Effect } from "effect"
import type { ConfigService } from "../../services/Config.js"
import { DEFAULT_PORT } from "../../config/bind.js"
import { checkProfileName, profileDefaultPort } from "../../config/profile.js"

const MAX_CONFIG_BYTES = 1024 * 1024
const MAX_PROFILES = 200

const configuredPort = (file: string): number | undefined => {
  try {
    const st = fs.statSync(file)
    if (!st.isFile() || st.size > MAX_CONFIG_BYTES) return undefined
    const raw = JSON5.parse(fs.readFileSync(file, "utf8")) as { gateway?: { port?: unknown } } | null
    const port = raw?.gateway?.port
    return typeof port === "number" && Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined
  } catch {
    return undefined
  }
}

/** Ports in use by the other profiles (and the default state dir) under `home`. */
export const otherProfilePorts = (self: string, home = os.homedir()): Set<number> => {
  const taken = new Set<number>([configuredPort(path.join(home, ".clawgate", "clawgate.json")) ?? DEFAULT_PORT])
  let names: Array<string> = []
  try {
    names = fs.readdirSync(home).filter((n) => n.startsWith(".clawgate-"))
  } catch {
    return taken
  }
  for (const dir of names.slice(0, MAX_PROFILES)) {
    const checked = checkProfileName(dir.slice(".clawgate-".length))
    if (!("name" in checked) || checked.name === undefined || checked.name === self) continue
    taken.add(configuredPort(path.join(home, dir, "clawgate.json")) ?? profileDefaultPort(checked.name))
  }
  return taken
}

/**
 * `gateway run` of a profile whose port nobody chose (no --port, variable or `gateway.port`): when
 * its default slot is another profile's port, the next free slot is taken and written to its config
 * as `gateway.port`, so its clients find it there and the two never collide.
 */
export const claimProfilePort = (config: ConfigService, portFlag: number | undefined) =>
  Effect.gen(function* () {
    const profile = config.env.profile
    if (profile === undefined || portFlag !== undefined || config.env.port !== undefined) return
    const cfg = yield* config.current
    if (cfg.gateway?.port !== undefined) return
    const port = profileDefaultPort(profile.name, otherProfilePorts(profile.name, path.dirname(config.paths.stateDir)))
    if (port === profile.defaultPort) return
    yield* config.update((raw) => ({ ...raw, gateway: { ...((raw.gateway as object | undefined) ?? {}), port } }))
    yield* Effect.logInfo(
      `profile ${profile.name}: port ${profile.defaultPort} is another profile's, so this one uses ${port} (saved as gateway.port in ${config.paths.configPath})`
    )
  })

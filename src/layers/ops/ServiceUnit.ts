/**
 * The files `clawgate gateway install` writes: a systemd user unit (Linux) or a launchd agent's
 * plist (macOS). Pure functions of a `ServiceSpec`, so the doctor can compare an installed file
 * with the one `install` would write today (`expectedServiceFile`).
 *
 * The unit carries no secret: the Gateway reads its credentials from its config (0600, in the
 * state dir); only the profile and non-default paths travel in its environment.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { PROFILE_ENV } from "../../config/profile.js"

export const UNIT_BASE = "clawgate-gateway"
export const LAUNCHD_BASE = "ai.clawgate.gateway"

/** `clawgate-gateway.service`, or `clawgate-gateway-<profile>.service`. */
export const systemdUnitName = (profile: string | undefined): string => `${UNIT_BASE}${profile ? `-${profile}` : ""}.service`

/** `ai.clawgate.gateway`, or `ai.clawgate.gateway.<profile>`. */
export const launchdLabel = (profile: string | undefined): string => `${LAUNCHD_BASE}${profile ? `.${profile}` : ""}`

/** `$XDG_CONFIG_HOME/systemd/user` (when absolute), else `~/.config/systemd/user`. */
export const systemdUserDir = (env: Readonly<Record<string, string | undefined>>, home = os.homedir()): string => {
  const xdg = env.XDG_CONFIG_HOME
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home, ".config"), "systemd", "user")
}

export const launchAgentsDir = (home = os.homedir()): string => path.join(home, "Library", "LaunchAgents")

/** The environment variables a unit may carry over from the installing shell: paths, never secrets. */
export const CARRIED_ENV = ["CLAWGATE_STATE_DIR", "CLAWGATE_CONFIG_PATH"] as const

export interface ServiceSpec {
  readonly profile?: string | undefined
  /** Absolute path of the node binary (`process.execPath`). */
  readonly execPath: string
  /** Real path of this package's `bin/clawgate.mjs`. */
  readonly entrypoint: string
  /** The state dir the Gateway will use (for launchd's log files). */
  readonly stateDir: string
  /** The service's environment: the profile, carried paths. Sorted when written. */
  readonly env: Readonly<Record<string, string>>
}

/**
 * This package's `bin/clawgate.mjs`, found from the running module: dist/<chunk>.js in the
 * bundle, src/layers/ops/*.ts under the tests. Its real path, so a service keeps working when
 * it was reached through a symbolic link (npm's global bin).
 */
export const packageEntrypoint = (moduleUrl: string = import.meta.url): string | undefined => {
  let dir = path.dirname(fileURLToPath(moduleUrl))
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, "bin", "clawgate.mjs")
    if (fs.existsSync(candidate) && fs.existsSync(path.join(dir, "package.json"))) return fs.realpathSync(candidate)
    const up = path.dirname(dir)
    if (up === dir) break
    dir = up
  }
  return undefined
}

/**
 * The service's environment from the installing shell's: the profile, and `CLAWGATE_STATE_DIR` /
 * `CLAWGATE_CONFIG_PATH` when set (made absolute; a profile's state dir wins over both, so they
 * are not carried beside one). Nothing else: no token, password or key.
 */
export const serviceEnv = (profile: string | undefined, env: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  if (profile) return { [PROFILE_ENV]: profile }
  const out: Record<string, string> = {}
  for (const name of CARRIED_ENV) {
    const value = env[name]
    if (value) out[name] = path.resolve(value)
  }
  return out
}

/** Why a value cannot go into a unit or plist, if it cannot (line breaks and control characters). */
export const unwritable = (value: string): string | undefined =>
  /[\u0000-\u001f\u007f]/.test(value) ? "it contains a line break or a control character" : undefined

/** Every value of the spec that is written into the file, with its name, for `unwritable` checks. */
export const specValues = (spec: ServiceSpec): ReadonlyArray<readonly [string, string]> => [
  ["the node binary's path", spec.execPath],
  ["the entrypoint's path", spec.entrypoint],
  ["the state dir", spec.stateDir],
  ...Object.entries(spec.env).map(([k, v]) => [k, v] as const)
]

/**
 * One word of a systemd command line or assignment, double-quoted: `\` and `"` escaped with a
 * backslash, `%` doubled (specifiers), and in a command line `$` doubled (variable expansion).
 */
export const systemdQuote = (value: string, command = false): string => {
  let out = value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")
  if (command) out = out.replace(/\$/g, "$$$$")
  return `"${out}"`
}

/** Free text (Description=): specifiers doubled, nothing else interpreted. */
const systemdText = (value: string): string => value.replace(/%/g, "%%")

const sortedEnv = (env: Readonly<Record<string, string>>) => Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** The systemd user unit `install` writes for `spec`. */
export const systemdUnit = (spec: ServiceSpec): string => {
  const lines = [
    "# Written by `clawgate gateway install`; `clawgate gateway install --force` rewrites it.",
    "# No secrets here: the Gateway reads its credentials from its config file.",
    "[Unit]",
    `Description=${systemdText(`clawgate Gateway (profile ${spec.profile ?? "default"})`)}`,
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${[spec.execPath, spec.entrypoint].map((a) => systemdQuote(a, true)).join(" ")} gateway run`,
    ...sortedEnv(spec.env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    "Restart=on-failure",
    "RestartSec=5",
    "# Exit 78: another Gateway holds the state dir. A configuration problem: do not restart.",
    "RestartPreventExitStatus=78",
    "TimeoutStopSec=30",
    "KillSignal=SIGTERM",
    "KillMode=mixed",
    "UMask=0077",
    "StandardOutput=journal",
    "StandardError=journal",
    "",
    "[Install]",
    "WantedBy=default.target",
    ""
  ]
  return lines.join("\n")
}

/** Text for a plist's <string>: the five XML characters escaped. */
export const xmlEscape = (value: string): string =>
  value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;")

const xmlString = (value: string) => `<string>${xmlEscape(value)}</string>`

/** Where launchd sends the Gateway's stdout and stderr (the Gateway also writes logs/gateway.log). */
export const launchdLogPaths = (stateDir: string) => ({
  out: path.join(stateDir, "logs", "gateway.launchd.out.log"),
  err: path.join(stateDir, "logs", "gateway.launchd.err.log")
})

/**
 * The launchd agent `install` writes for `spec`. launchd cannot exempt one exit code from
 * KeepAlive: a Gateway that exits 78 (another holds the state dir) is started again after
 * ThrottleInterval, and exits 78 again; the lock keeps the second copy out.
 */
export const launchdPlist = (spec: ServiceSpec): string => {
  const logs = launchdLogPaths(spec.stateDir)
  const env = sortedEnv(spec.env)
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by `clawgate gateway install`; no secrets here: the Gateway reads its config. -->",
    '<plist version="1.0">',
    "<dict>",
    "  <key>Label</key>",
    `  ${xmlString(launchdLabel(spec.profile))}`,
    "  <key>ProgramArguments</key>",
    "  <array>",
    ...[spec.execPath, spec.entrypoint, "gateway", "run"].map((a) => `    ${xmlString(a)}`),
    "  </array>",
    "  <key>EnvironmentVariables</key>",
    "  <dict>",
    ...env.flatMap(([k, v]) => [`    <key>${xmlEscape(k)}</key>`, `    ${xmlString(v)}`]),
    "  </dict>",
    "  <key>RunAtLoad</key>",
    "  <true/>",
    "  <key>KeepAlive</key>",
    "  <dict>",
    "    <key>SuccessfulExit</key>",
    "    <false/>",
    "  </dict>",
    "  <key>ThrottleInterval</key>",
    "  <integer>5</integer>",
    "  <key>ExitTimeOut</key>",
    "  <integer>30</integer>",
    "  <key>Umask</key>",
    "  <integer>63</integer>",
    "  <key>StandardOutPath</key>",
    `  ${xmlString(logs.out)}`,
    "  <key>StandardErrorPath</key>",
    `  ${xmlString(logs.err)}`,
    "</dict>",
    "</plist>",
    ""
  ].join("\n")
}

/** The file `install` writes on `platform` for `spec`: what the doctor compares an installed one with. */
export const expectedServiceFile = (spec: ServiceSpec, platform: NodeJS.Platform = process.platform): string =>
  platform === "darwin" ? launchdPlist(spec) : systemdUnit(spec)

/** The spec for this process: its node, this package's entrypoint, the profile and carried paths. */
export const currentServiceSpec = (
  profile: string | undefined,
  stateDir: string,
  env: Readonly<Record<string, string | undefined>>
): ServiceSpec | { readonly error: string } => {
  const entrypoint = packageEntrypoint()
  if (entrypoint === undefined) {
    return {
      error: "cannot find this package's bin/clawgate.mjs from the running code: run `clawgate gateway install` from an installed clawgate"
    }
  }
  return { profile, execPath: fs.realpathSync(process.execPath), entrypoint, stateDir, env: serviceEnv(profile, env) }
}

/** The lines that differ between an installed file and the expected one, `-` installed, `+` expected. */
export const describeDifference = (installed: string, expected: string, max = 12): ReadonlyArray<string> => {
  const a = installed.split("\n")
  const b = expected.split("\n")
  const inA = new Set(a)
  const inB = new Set(b)
  const out = [...a.filter((l) => !inB.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `+ ${l}`)]
  return out.length > max ? [...out.slice(0, max), `  (${out.length - max} more)`] : out
}

/**
 * The unit (or plist) `gateway install` would write now for `profile`, from this process's node
 * and entrypoint and the given environment: what `doctor` compares an installed file with.
 */
export const expectedServiceFileFor = (
  profile: string | undefined,
  stateDir: string,
  env: Readonly<Record<string, string | undefined>>,
  platform: NodeJS.Platform = process.platform
): { readonly text: string; readonly spec: ServiceSpec } | { readonly error: string } => {
  const spec = currentServiceSpec(profile, stateDir, env)
  return "error" in spec ? spec : { text: expectedServiceFile(spec, platform), spec }
}

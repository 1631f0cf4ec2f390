/**
 * Profiles: isolated Gateways on one host. `--profile NAME` (or `CLAWGATE_PROFILE`) gives a
 * Gateway and every client command its own state dir (`~/.clawgate-NAME`), config and default
 * port; `--dev` is the profile `dev`. Pure functions, so every rule is unit-tested.
 */
import * as path from "node:path"

/** The environment variable a profile travels in (the flag sets it before the command runs). */
export const PROFILE_ENV = "CLAWGATE_PROFILE"

/** `dev`'s port, as OpenClaw's `--dev` Gateway uses. */
export const DEV_PORT = 19001

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/

/**
 * A profile name, or why it is not one. Names become a directory name and a systemd unit name,
 * so they are short, lower case and free of path characters; `default` means no profile.
 */
export const checkProfileName = (name: string): { readonly name: string | undefined } | { readonly error: string } => {
  if (name === "default") return { name: undefined }
  if (NAME.test(name)) return { name }
  return {
    error: `profile name ${JSON.stringify(name.slice(0, 40))} is not valid: use 1 to 32 characters a-z, 0-9, "-" or "_", starting with a letter or digit (e.g. --profile work)`
  }
}

/** The profile the environment names, if it is a valid one (the entrypoint refuses an invalid one first). */
export const profileFromEnv = (env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const value = env[PROFILE_ENV]
  if (value === undefined || value === "") return undefined
  const checked = checkProfileName(value)
  return "name" in checked ? checked.name : undefined
}

export const profileStateDir = (name: string, home: string): string => path.join(home, `.clawgate-${name}`)

/** FNV-1a, 32 bits: a stable spread of names over the port slots. */
const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** Named profiles' default ports: slots 10 apart from 19011 to 19981, away from 18789 and dev's 19001. */
export const PROFILE_PORT_SLOTS = 98
const slotPort = (slot: number) => 19011 + 10 * (slot % PROFILE_PORT_SLOTS)

/**
 * A profile's default port (used when neither `--port`, `CLAWGATE_GATEWAY_PORT` nor `gateway.port`
 * says): 19001 for `dev`, else a slot picked from the name. `taken` are the ports other profiles
 * on this host already use; the first free slot from the name's own is chosen, so two profiles
 * never share a default port (the Gateway records a moved port in its config: see `gateway run`).
 */
export const profileDefaultPort = (name: string, taken: ReadonlySet<number> = new Set()): number => {
  if (name === "dev") return DEV_PORT
  const first = fnv1a(name) % PROFILE_PORT_SLOTS
  for (let i = 0; i < PROFILE_PORT_SLOTS; i++) {
    const port = slotPort(first + i)
    if (!taken.has(port)) return port
  }
  return slotPort(first)
}

export interface ProfileArgs {
  /** argv without the profile flags. */
  readonly argv: ReadonlyArray<string>
  /** Set when a flag chose one; `undefined` for `--profile default`. */
  readonly profile?: { readonly name: string | undefined } | undefined
  readonly error?: string | undefined
}

/**
 * `clawgate [--profile NAME | --dev] <command> ...`: the profile flags are global, so they come
 * before the command; they are taken out of argv here, before the command line is parsed.
 * `argv` is `process.argv` (node, script, args...).
 */
export const parseProfileArgs = (argv: ReadonlyArray<string>): ProfileArgs => {
  const out = argv.slice(0, 2)
  let chosen: { name: string | undefined; flag: string } | undefined
  let i = 2
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith("-") || arg === "--") break
    let value: string | undefined
    let flag: string
    if (arg === "--dev") {
      value = "dev"
      flag = "--dev"
    } else if (arg === "--profile") {
      value = argv[i + 1]
      flag = "--profile"
      if (value === undefined || value.startsWith("-")) return { argv, error: "--profile needs a name, e.g. --profile work" }
      i++
    } else if (arg.startsWith("--profile=")) {
      value = arg.slice("--profile=".length)
      flag = "--profile"
    } else {
      out.push(arg)
      continue
    }
    const checked = checkProfileName(value)
    if ("error" in checked) return { argv, error: checked.error }
    if (chosen !== undefined && chosen.name !== checked.name) {
      return { argv, error: `${chosen.flag} and ${flag} name different profiles: give one` }
    }
    chosen = { name: checked.name, flag }
  }
  return { argv: [...out, ...argv.slice(i)], profile: chosen && { name: chosen.name } }
}

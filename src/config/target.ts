/**
 * Client target resolution: which Gateway the CLI talks to and with what
 * credential. Pure, so every precedence rule is unit-tested.
 */
import { Redacted } from "effect"
import { DEFAULT_PORT, isLoopbackAddress } from "./bind.js"
import { firstSet } from "./sources.js"
import type { ClawgateConfig } from "./schema.js"
import type { ConfigEnv } from "../services/Config.js"

export interface ClientFlags {
  readonly url?: string | undefined
  readonly token?: string | undefined
  readonly password?: string | undefined
  readonly tlsFingerprint?: string | undefined
  /** Allow plain ws:// to a host that is not loopback. */
  readonly allowInsecure?: boolean | undefined
}

export interface Target {
  readonly url: string
  readonly urlSource: string
  readonly mode: "local" | "remote"
  /** Redacted from here to the connect frame: a Target printed, logged or put in an error shows `<redacted>`. */
  readonly token?: Redacted.Redacted<string> | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  readonly authSource?: string | undefined
  readonly tlsFingerprint?: string | undefined
  readonly tlsFingerprintSource?: string | undefined
  /** The local Gateway's profile (`--profile NAME`), for the hints that name a command. */
  readonly profile?: string | undefined
  /** Reach the Gateway through an SSH tunnel to its loopback port (the CLI opens or reuses it). */
  readonly ssh?:
    | {
        readonly target: string
        readonly identity?: string | undefined
        readonly config?: string | undefined
        readonly remotePort: number
      }
    | undefined
}

export class TargetError extends Error {
  override readonly name = "TargetError"
}

/** SHA-256 fingerprint normalised for comparison: no `sha256:` prefix, hex only, lower case. */
export const normalizeFingerprint = (fp: string): string =>
  fp
    .trim()
    .replace(/^sha-?256:/i, "")
    .replace(/[^0-9a-fA-F]/g, "")
    .toLowerCase()

const checkUrl = (raw: string, source: string, allowInsecure: boolean): URL => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new TargetError(`${source} is not a valid URL (got ${JSON.stringify(raw)}): use ws://host:port or wss://host:port`)
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TargetError(`${source} must start with ws:// or wss:// (got ${url.protocol}//)`)
  }
  if (url.searchParams.has("token") || url.searchParams.has("password")) {
    throw new TargetError(`${source} must not carry a credential in its query string: use --token/--password or gateway.remote.token`)
  }
  const host = url.hostname.replace(/^\[|\]$/g, "")
  if (url.protocol === "ws:" && !isLoopbackAddress(host) && !allowInsecure) {
    throw new TargetError(
      `refusing plain ws:// to ${url.host} (${source}): the token would cross the network unencrypted. ` +
        `Use wss:// (with --tls-fingerprint), an SSH tunnel to a loopback URL, or pass --allow-insecure if you really mean it`
    )
  }
  return url
}

/** A credential as the client carries it (an empty one is none). */
const secret = (value: string | undefined) => (value ? Redacted.make(value) : undefined)

export const resolveTarget = (flags: ClientFlags, config: ClawgateConfig, env: ConfigEnv): Target => {
  const gw = config.gateway
  const allowInsecure = flags.allowInsecure ?? false
  if (flags.url !== undefined) {
    // An explicit URL never borrows credentials from config or environment:
    // they were meant for another Gateway.
    checkUrl(flags.url, "--url", allowInsecure)
    if (!flags.token && !flags.password) {
      throw new TargetError(
        "--url needs --token or --password: with an explicit URL, credentials are never taken from the config file or environment"
      )
    }
    return {
      url: flags.url,
      urlSource: "--url",
      mode: "remote",
      token: secret(flags.token),
      password: secret(flags.password),
      authSource: flags.token ? "--token" : "--password",
      tlsFingerprint: flags.tlsFingerprint,
      tlsFingerprintSource: flags.tlsFingerprint ? "--tls-fingerprint" : undefined
    }
  }
  if (gw?.mode === "remote" && gw.remote?.transport === "ssh") {
    const sshTarget = gw.remote.sshTarget
    if (!sshTarget) {
      throw new TargetError(
        'gateway.remote.transport is "ssh" but gateway.remote.sshTarget is not set: run `clawgate config set gateway.remote.sshTarget user@host`'
      )
    }
    const remotePort = gw.remote.remotePort ?? DEFAULT_PORT
    const token = firstSet(
      [flags.token, "--token"],
      [gw.remote.token, "gateway.remote.token"],
      [env.token?.value, env.token?.name ?? ""],
      [gw.auth?.token, "gateway.auth.token"]
    )
    const password = firstSet(
      [flags.password, "--password"],
      [gw.remote.password, "gateway.remote.password"],
      [env.password?.value, env.password?.name ?? ""],
      [gw.auth?.password, "gateway.auth.password"]
    )
    return {
      // The tunnel's local end replaces this port when it is open.
      url: `ws://127.0.0.1:${remotePort}`,
      urlSource: `ssh tunnel to ${sshTarget} (gateway.remote.sshTarget)`,
      mode: "remote",
      token: secret(token?.value),
      password: secret(password?.value),
      authSource: token?.source ?? password?.source,
      ssh: { target: sshTarget, identity: gw.remote.sshIdentity, config: gw.remote.sshConfig, remotePort }
    }
  }
  if (gw?.mode === "remote") {
    const url = gw.remote?.url
    if (!url) {
      throw new TargetError(
        'gateway.mode is "remote" but gateway.remote.url is not set: run `clawgate config set gateway.remote.url wss://host:port`, or pass --url'
      )
    }
    checkUrl(url, "gateway.remote.url", allowInsecure)
    const token = firstSet(
      [flags.token, "--token"],
      [gw.remote?.token, "gateway.remote.token"],
      [env.token?.value, env.token?.name ?? ""],
      [gw.auth?.token, "gateway.auth.token"]
    )
    const password = firstSet(
      [flags.password, "--password"],
      [gw.remote?.password, "gateway.remote.password"],
      [env.password?.value, env.password?.name ?? ""],
      [gw.auth?.password, "gateway.auth.password"]
    )
    const fp = firstSet([flags.tlsFingerprint, "--tls-fingerprint"], [gw.remote?.tlsFingerprint, "gateway.remote.tlsFingerprint"])
    return {
      url,
      urlSource: "gateway.remote.url",
      mode: "remote",
      token: secret(token?.value),
      password: secret(password?.value),
      authSource: token?.source ?? password?.source,
      tlsFingerprint: fp?.value,
      tlsFingerprintSource: fp?.source
    }
  }
  let port = DEFAULT_PORT
  let portSource = "default port"
  if (env.port) {
    port = Number(env.port.value)
    portSource = env.port.name
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TargetError(`${env.port.name} must be a port number from 1 to 65535 (got ${JSON.stringify(env.port.value)})`)
    }
  } else if (gw?.port !== undefined) {
    port = gw.port
    portSource = "gateway.port"
  } else if (env.profile) {
    port = env.profile.defaultPort
    portSource = `the default of profile ${env.profile.name}`
  }
  const token = firstSet(
    [flags.token, "--token"],
    [env.token?.value, env.token?.name ?? ""],
    [gw?.auth?.token, "gateway.auth.token"],
    [gw?.remote?.token, "gateway.remote.token"]
  )
  const password = firstSet(
    [flags.password, "--password"],
    [env.password?.value, env.password?.name ?? ""],
    [gw?.auth?.password, "gateway.auth.password"],
    [gw?.remote?.password, "gateway.remote.password"]
  )
  return {
    url: `ws://127.0.0.1:${port}`,
    urlSource: `local (port from ${portSource})`,
    mode: "local",
    profile: env.profile?.name,
    token: secret(token?.value),
    password: secret(password?.value),
    authSource: token?.source ?? password?.source,
    tlsFingerprint: flags.tlsFingerprint,
    tlsFingerprintSource: flags.tlsFingerprint ? "--tls-fingerprint" : undefined
  }
}

/**
 * The rules of `clawgate security audit`: a pure function from the config and
 * the facts gathered about this host and the running Gateway to findings, each
 * with a severity and the fix. Ids follow OpenClaw's `checkId`s where OpenClaw
 * has the same check (`gateway.bind_no_auth`, `gateway.token_too_short`,
 * `gateway.tailscale_funnel`, `fs.config.perms_world_readable`, ...).
 * Gathering the facts (files, environment, the live Gateway) is in
 * programs/audit.ts.
 */
import { Redacted, String as Str } from "effect"
import { isLoopbackAddress, isTailnetIPv4 } from "../config/bind.js"
import type { ClawgateConfig } from "../config/schema.js"
import { resolveServerAuth } from "../services/Auth.js"
import type { ConfigEnv } from "../services/Config.js"

export type Severity = "critical" | "warn" | "info"

export interface Finding {
  readonly id: string
  readonly severity: Severity
  readonly title: string
  readonly detail: string
  /** What to do about it; empty for findings that need nothing done. */
  readonly fix: string
}

export type FileKind = "config" | "stateDir" | "deviceKey" | "deviceTokens" | "tlsKey" | "database" | "log"

export interface FileFact {
  readonly kind: FileKind
  readonly path: string
  /** st_mode permission bits (mode & 0o777). */
  readonly mode: number
  readonly isDirectory: boolean
}

export interface UntrustedProxyHeadersFact {
  readonly count: number
  readonly lastFrom: string | null
  readonly lastAt: number | null
}

/** What the Gateway the CLI reached says about itself (`status`); a field it did not send is undefined. */
export interface LiveGateway {
  readonly url: string
  readonly urlSource: string
  /** It is this host's Gateway, run from the config being audited (local target). */
  readonly local: boolean
  readonly bind?: string | undefined
  readonly listeners?: ReadonlyArray<{ readonly host: string; readonly port: number }> | undefined
  readonly authMode?: string | undefined
  readonly tls?: boolean | undefined
  /** Tailscale Serve/Funnel as the Gateway runs it ("off", "serve", "funnel"). */
  readonly tailscale?: string | undefined
  readonly untrustedProxyHeaders?: UntrustedProxyHeadersFact | undefined
  /** From the Gateway's vital signs: connections open now, by kind. */
  readonly connections?: { readonly operators: number; readonly nodes: number; readonly pending: number } | undefined
  /** The unauthenticated-connection budget in force, when the Gateway is this host's. */
  readonly unauthenticatedTotal?: number | undefined
}

export type LiveFacts =
  | ({ readonly reachable: true } & LiveGateway)
  | { readonly reachable: false; readonly url?: string | undefined; readonly reason: string }

export interface AuditFacts {
  readonly configPath: string
  readonly env: ConfigEnv
  readonly platform: NodeJS.Platform
  readonly files: ReadonlyArray<FileFact>
  readonly live: LiveFacts
}

export interface AuditSummary {
  readonly critical: number
  readonly warn: number
  readonly info: number
}

export const MIN_TOKEN_LENGTH = 24
export const MIN_PASSWORD_LENGTH = 12

/** Values people type when they mean "I'll change it later". Compared case-insensitively. */
const WELL_KNOWN = new Set([
  "changeme",
  "change-me",
  "change_me",
  "token",
  "password",
  "passw0rd",
  "secret",
  "admin",
  "default",
  "test",
  "example",
  "letmein",
  "qwerty",
  "12345678",
  "123456",
  "1234",
  "clawgate",
  "openclaw",
  "your-token",
  "your-password",
  "mytoken",
  "mypassword"
])

export const isWellKnownSecret = (value: string): boolean => WELL_KNOWN.has(value.trim().toLowerCase())

const order: Record<Severity, number> = { critical: 0, warn: 1, info: 2 }

export const summarize = (findings: ReadonlyArray<Finding>): AuditSummary => ({
  critical: findings.filter((f) => f.severity === "critical").length,
  warn: findings.filter((f) => f.severity === "warn").length,
  info: findings.filter((f) => f.severity === "info").length
})

/** How far the Gateway can be reached from. */
type Exposure = "loopback" | "tailnet" | "network" | "public"

const FILE_LABEL: Record<FileKind, string> = {
  config: "config file",
  stateDir: "state directory",
  deviceKey: "device key",
  deviceTokens: "device token store",
  tlsKey: "TLS private key",
  database: "SQLite database",
  log: "Gateway log"
}

const FILE_ID: Record<FileKind, string> = {
  config: "fs.config",
  stateDir: "fs.state_dir",
  deviceKey: "fs.device_key",
  deviceTokens: "fs.device_tokens",
  tlsKey: "fs.tls_key",
  database: "fs.database",
  log: "fs.log"
}

const octal = (mode: number) => "0" + (mode & 0o777).toString(8).padStart(3, "0")
const quote = (p: string) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`)

const fileFindings = (file: FileFact, configHasSecret: boolean): Array<Finding> => {
  const label = FILE_LABEL[file.kind]
  const id = FILE_ID[file.kind]
  const want = file.isDirectory ? 0o700 : 0o600
  const fix = `chmod ${file.isDirectory ? "700" : "600"} ${quote(file.path)}`
  const groupWritable = (file.mode & 0o020) !== 0
  const worldWritable = (file.mode & 0o002) !== 0
  const groupReadable = (file.mode & 0o040) !== 0
  const worldReadable = (file.mode & 0o004) !== 0
  const where = `${file.path} is mode ${octal(file.mode)} (want ${octal(want)})`
  if (groupWritable || worldWritable) {
    // Whoever can write the config or the state can change who may connect.
    const critical = file.kind === "config" || file.kind === "stateDir" || worldWritable
    return [
      {
        id: `${id}.perms_writable`,
        severity: critical ? "critical" : "warn",
        title: `The ${label} is writable by ${worldWritable ? "every user" : "its group"}`,
        detail: `${where}: another user could ${file.kind === "config" || file.kind === "stateDir" ? "change the Gateway's credentials and bind, or plant their own device" : `replace the ${label}`}.`,
        fix
      }
    ]
  }
  if (!groupReadable && !worldReadable) return []
  const secret =
    file.kind === "deviceKey" || file.kind === "deviceTokens" || file.kind === "tlsKey" || (file.kind === "config" && configHasSecret)
  const what: Record<FileKind, string> = {
    config: configHasSecret ? "it holds the Gateway's credentials" : "it holds no credential now, but one saved later would be exposed",
    stateDir: "its contents can be listed and, where their own modes allow, read",
    deviceKey: "whoever reads it can sign in as this device and get its pairing's scopes",
    deviceTokens: "it holds the device tokens Gateways issued to this machine",
    tlsKey: "whoever reads it can impersonate the Gateway to clients that pin its certificate",
    database: "it holds pairings and hashed device tokens",
    log: "it records who connected from where"
  }
  return [
    {
      id: `${id}.perms_${worldReadable ? "world" : "group"}_readable`,
      severity: secret ? "critical" : "warn",
      title: `The ${label} is readable by ${worldReadable ? "every user" : "its group"}`,
      detail: `${where}: ${what[file.kind]}.`,
      fix
    }
  ]
}

/**
 * The findings for `config` on this host, given `facts`. Sorted by severity
 * (critical first); the order within a severity is the order of the checks.
 */
export const auditConfig = (config: ClawgateConfig, facts: AuditFacts): Array<Finding> => {
  const findings: Array<Finding> = []
  const add = (f: Finding) => void findings.push(f)
  const gw = config.gateway ?? {}
  const live = facts.live.reachable ? facts.live : undefined
  // The running Gateway of this host is the truth about how it runs (flags may override the config).
  const localLive = live?.local ? live : undefined
  const tailscaleMode = localLive?.tailscale ?? gw.tailscale?.mode ?? "off"
  const allowTailscale = gw.auth?.allowTailscale === true

  // --- Where it listens -------------------------------------------------------------------------
  const configBind = gw.bind ?? "loopback"
  const bind = localLive?.bind ?? configBind
  const liveHosts = localLive?.listeners?.map((l) => l.host)
  const configHosts =
    configBind === "lan"
      ? ["0.0.0.0"]
      : configBind === "custom"
        ? [gw.customBindHost ?? "(gateway.customBindHost not set)"]
        : configBind === "tailnet"
          ? ["this host's Tailscale address"]
          : ["127.0.0.1", "::1"]
  const hosts = liveHosts && liveHosts.length > 0 ? liveHosts : configHosts
  const beyondLoopback =
    liveHosts && liveHosts.length > 0
      ? liveHosts.some((h) => !isLoopbackAddress(h))
      : configBind === "lan" || configBind === "tailnet" || (configBind === "custom" && !isLoopbackAddress(gw.customBindHost))
  const tailnetOnly =
    bind === "tailnet" ||
    (liveHosts !== undefined && liveHosts.length > 0 && liveHosts.every((h) => isLoopbackAddress(h) || isTailnetIPv4(h)))
  const exposure: Exposure =
    tailscaleMode === "funnel"
      ? "public"
      : beyondLoopback
        ? tailnetOnly
          ? "tailnet"
          : "network"
        : tailscaleMode === "serve"
          ? "tailnet"
          : "loopback"
  const exposed = exposure !== "loopback"
  const whereText = `${hosts.join(", ")} (gateway.bind "${bind}"${localLive?.bind !== undefined ? ", as the running Gateway reports" : ""})`

  // --- Credentials ------------------------------------------------------------------------------
  const auth = resolveServerAuth(config, facts.env, {})
  const configuredCredential =
    (auth.mode === "token" && auth.token !== undefined) || (auth.mode === "password" && auth.password !== undefined)
  // A running Gateway beyond loopback has a credential (it refuses to start without one), even if
  // it came from its own environment or --token rather than this config.
  const liveMode = localLive?.authMode
  const hasCredential = liveMode !== undefined ? liveMode === "token" || liveMode === "password" : configuredCredential
  const authMode = liveMode ?? auth.mode
  const setToken = 'clawgate config set gateway.auth.token "$(openssl rand -base64 32)"'

  if (beyondLoopback && !hasCredential) {
    add({
      id: "gateway.bind_no_auth",
      severity: "critical",
      title: "The Gateway is bound beyond loopback without authentication",
      detail:
        (authMode === "none"
          ? `It is set to listen on ${whereText} with gateway.auth.mode "none": anyone who can reach the port could connect.`
          : `It is set to listen on ${whereText}, but no ${auth.mode} is set (gateway.auth.${auth.mode}, ${auth.mode === "token" ? "CLAWGATE_GATEWAY_TOKEN" : "CLAWGATE_GATEWAY_PASSWORD"}).`) +
        " clawgate refuses to start like this, but the same config on another Gateway, or a credential removed later, leaves the port open.",
      fix: `${authMode === "none" ? "clawgate config unset gateway.auth.mode && " : ""}${setToken}, or keep the default loopback bind: clawgate config set gateway.bind loopback`
    })
  } else if (!beyondLoopback && tailscaleMode !== "off" && authMode === "none") {
    add({
      id: "gateway.tailscale_no_auth",
      severity: "critical",
      title: `Tailscale ${tailscaleMode === "funnel" ? "Funnel" : "Serve"} publishes a Gateway that has no authentication`,
      detail: `gateway.tailscale.mode is "${tailscaleMode}" and gateway.auth.mode is "none": everyone ${tailscaleMode === "funnel" ? "on the internet" : "on your tailnet"} reaches the Gateway through Tailscale without a credential.`,
      fix: `clawgate config unset gateway.auth.mode, then ${setToken}`
    })
  } else if (!exposed && authMode === "none") {
    add({
      id: "gateway.loopback_no_auth",
      severity: "warn",
      title: 'Authentication is off (gateway.auth.mode "none")',
      detail:
        "The Gateway listens on loopback only, but every local user and process (and any local proxy that forwards to it) can control it without a credential.",
      fix: "clawgate config unset gateway.auth.mode (a token is generated on the next start)"
    })
  }

  if (tailscaleMode === "funnel") {
    const hasPassword = auth.mode === "password" && auth.password !== undefined
    add({
      id: "gateway.tailscale_funnel",
      severity: hasPassword ? "warn" : "critical",
      title: hasPassword
        ? "Tailscale Funnel publishes the Gateway on the public internet"
        : "Tailscale Funnel without password authentication",
      detail: hasPassword
        ? 'gateway.tailscale.mode is "funnel": anyone on the internet can reach the Gateway\'s port and try the password. It is protected by the password and device pairing only.'
        : `gateway.tailscale.mode is "funnel" (the public internet) and gateway.auth.mode is "${auth.mode}". Funnel needs password authentication: the Gateway refuses to start Funnel without it, as OpenClaw's does.`,
      fix: hasPassword
        ? "Prefer Serve (tailnet only): clawgate config set gateway.tailscale.mode serve"
        : 'clawgate config set gateway.tailscale.mode serve (tailnet only), or set a long password: clawgate config set gateway.auth.mode password gateway.auth.password "$(openssl rand -base64 24)"'
    })
  } else if (tailscaleMode === "serve") {
    add({
      id: "gateway.tailscale_serve",
      severity: "info",
      title: "Tailscale Serve publishes the Gateway on your tailnet",
      detail: allowTailscale
        ? "The Gateway stays on loopback; Tailscale proxies https://<machine>.<tailnet>.ts.net to it. gateway.auth.allowTailscale is true: a verified Tailscale identity replaces the token, so whoever your tailnet ACLs let reach this machine can connect (a new device still needs pairing). Anyone who can run programs on this host can send the same headers from loopback: keep it off on a shared host."
        : "The Gateway stays on loopback; Tailscale proxies https://<machine>.<tailnet>.ts.net to it. Clients still need the token.",
      fix: ""
    })
  }

  // Credential strength, for the credential the server uses and for the client ones in the config.
  const strength = (value: string, source: string, kind: "token" | "password", server: boolean) => {
    const min = kind === "token" ? MIN_TOKEN_LENGTH : MIN_PASSWORD_LENGTH
    const severity: Severity = server && exposed ? "critical" : "warn"
    const configKey = source.startsWith("gateway.") ? source : undefined
    const fixText =
      kind === "token"
        ? configKey
          ? `clawgate config set ${configKey} "$(openssl rand -base64 32)"${server ? " (then update every client that uses it)" : " (after rotating it on that Gateway)"}`
          : `set ${source} to a long random value, e.g. $(openssl rand -base64 32)`
        : configKey
          ? `clawgate config set ${configKey} "$(openssl rand -base64 24)"`
          : `set ${source} to a long random value, e.g. $(openssl rand -base64 24)`
    const whose = server ? `the Gateway's ${kind}` : `the ${kind} for ${config.gateway?.remote?.url ?? "the remote Gateway"}`
    const whoseTitle = Str.capitalize(whose)
    if (isWellKnownSecret(value)) {
      add({
        id: `gateway.${server ? "" : "remote."}${kind}_weak`,
        severity,
        title: `${whoseTitle} is a well-known value`,
        detail: `${source} is one of the values attackers try first ("changeme", "password", ...)${server && exposed ? `, on a Gateway reachable from ${exposure === "public" ? "the internet" : exposure === "tailnet" ? "your tailnet" : "the network"}` : ""}.`,
        fix: fixText
      })
    } else if (value.trim().length < min) {
      add({
        id: `gateway.${server ? "" : "remote."}${kind}_too_short`,
        severity,
        title: `${whoseTitle} is short`,
        detail: `${source} is ${value.trim().length} characters; use at least ${min}${kind === "token" ? " (a generated token has 43)" : ""}${server && exposed ? `. The Gateway is reachable from ${exposure === "public" ? "the internet" : exposure === "tailnet" ? "your tailnet" : "the network"}, and the failed-attempt limit is per address` : ""}.`,
        fix: fixText
      })
    }
  }
  if (auth.mode === "token" && auth.token !== undefined)
    strength(Redacted.value(auth.token), auth.tokenSource ?? "gateway.auth.token", "token", true)
  if (auth.mode === "password" && auth.password !== undefined) {
    strength(Redacted.value(auth.password), auth.passwordSource ?? "gateway.auth.password", "password", true)
  }
  const remote = gw.remote
  if (remote?.token !== undefined) strength(remote.token, "gateway.remote.token", "token", false)
  if (remote?.password !== undefined) strength(remote.password, "gateway.remote.password", "password", false)

  // Reuse: one secret in two roles means losing one loses both.
  const secrets: Array<{ value: string | undefined; source: string }> = [
    { value: facts.env.token?.value, source: facts.env.token?.name ?? "" },
    { value: facts.env.password?.value, source: facts.env.password?.name ?? "" },
    { value: gw.auth?.token, source: "gateway.auth.token" },
    { value: gw.auth?.password, source: "gateway.auth.password" },
    { value: remote?.token, source: "gateway.remote.token" },
    { value: remote?.password, source: "gateway.remote.password" }
  ]
  const seen = new Map<string, Array<string>>()
  for (const s of secrets) if (s.value) seen.set(s.value, [...(seen.get(s.value) ?? []), s.source])
  for (const sources of seen.values()) {
    const serverSide = sources.filter((s) => !s.startsWith("gateway.remote."))
    const clientSide = sources.filter((s) => s.startsWith("gateway.remote."))
    const tokenLike = (s: string) => /token/i.test(s)
    const passwordLike = (s: string) => /password/i.test(s)
    const crossKind = sources.some(tokenLike) && sources.some(passwordLike)
    // The env token overriding gateway.auth.token with the same value is one credential, not reuse.
    if (!(crossKind || (serverSide.length > 0 && clientSide.length > 0))) continue
    add({
      id: "gateway.credential_reused",
      severity: "warn",
      title: "One secret is used for more than one credential",
      detail: `${sources.join(", ")} hold the same value${clientSide.length > 0 && serverSide.length > 0 ? ": this Gateway and the remote one accept the same secret, so whoever learns it from one has both" : ": a token and a password are meant to be different secrets"}.`,
      fix:
        clientSide.length > 0 && serverSide.length > 0
          ? `Give this Gateway its own: ${setToken}`
          : "Keep only the one gateway.auth.mode uses: clawgate config unset gateway.auth.password (or gateway.auth.token)"
    })
  }

  // --- TLS --------------------------------------------------------------------------------------
  const tls = localLive?.tls ?? gw.tls?.enabled === true
  if (beyondLoopback && !tls) {
    const tailnetBind = tailnetOnly
    add({
      id: "gateway.bind_no_tls",
      severity: !hasCredential ? "critical" : tailnetBind ? "info" : "warn",
      title: "The Gateway is bound beyond loopback without TLS",
      detail: tailnetBind
        ? `It listens on ${whereText} over plain ws://. Tailscale encrypts tailnet traffic, but clients cannot pin the Gateway's certificate and must pass --allow-insecure.`
        : `It listens on ${whereText} over plain ws://: the credential and every message cross the network unencrypted, and clients must pass --allow-insecure.`,
      fix: "clawgate config set gateway.tls.enabled true, restart the Gateway, and pin `clawgate gateway tls fingerprint` on clients; or bind to loopback and use an SSH tunnel or Tailscale Serve"
    })
  }

  // --- Browsers and proxies ---------------------------------------------------------------------
  const origins = gw.controlUi?.allowedOrigins ?? []
  if (origins.includes("*")) {
    add({
      id: "gateway.control_ui.allowed_origins_wildcard",
      severity: "warn",
      title: 'gateway.controlUi.allowedOrigins contains "*"',
      detail:
        '"*" means "any web page" to OpenClaw, which would let any site you visit open a WebSocket to the Gateway. clawgate matches origins exactly, so here it allows nothing, but the same config on an OpenClaw Gateway would.',
      fix: "List the origins you use instead: clawgate config set gateway.controlUi.allowedOrigins '[\"https://app.example\"]'"
    })
  }
  if (origins.includes("null")) {
    add({
      id: "gateway.control_ui.allowed_origins_null",
      severity: "warn",
      title: 'gateway.controlUi.allowedOrigins contains "null"',
      detail:
        "Browsers send Origin: null from sandboxed iframes, file:// pages and some redirects, so any web page can produce it: listing it lets any site you visit open a WebSocket to the Gateway.",
      fix: 'Remove "null" and list real origins: clawgate config set gateway.controlUi.allowedOrigins \'["https://app.example"]\''
    })
  }
  if (gw.allowRealIpFallback === true) {
    add({
      id: "gateway.real_ip_fallback_enabled",
      severity: exposed ? "warn" : "info",
      title: "X-Real-IP is trusted when X-Forwarded-For is absent",
      detail:
        "With gateway.allowRealIpFallback, a proxy in gateway.trustedProxies that passes a client's own X-Real-IP through lets that client choose the address it is rate-limited and logged as.",
      fix: "clawgate config unset gateway.allowRealIpFallback, unless your proxy overwrites X-Real-IP on every request"
    })
  }
  const untrusted = live?.untrustedProxyHeaders
  if (untrusted && untrusted.count > 0) {
    const proxies = live?.local ? (gw.trustedProxies ?? []) : undefined
    const from = untrusted.lastFrom ?? "an unknown address"
    add({
      id: "gateway.untrusted_proxy_headers",
      severity: "warn",
      title: "The Gateway received forwarding headers from a peer that is not a trusted proxy",
      detail:
        `${untrusted.count} connection${untrusted.count === 1 ? "" : "s"} since it started carried X-Forwarded-For, X-Real-IP or Forwarded from an address not in gateway.trustedProxies, ` +
        `the last from ${from}${untrusted.lastAt !== null ? ` at ${new Date(untrusted.lastAt).toISOString()}` : ""}` +
        `${proxies === undefined ? "" : proxies.length === 0 ? " (gateway.trustedProxies is empty)" : ` (gateway.trustedProxies is ${JSON.stringify(proxies)})`}. ` +
        "The headers were ignored and those clients were treated as remote: if a reverse proxy (nginx, Caddy, Tailscale Serve) sends them, clients behind it lose loopback treatment and share one rate-limit bucket; if not, someone is sending forged headers.",
      fix:
        `${live?.local ? "" : "On the Gateway host: "}if ${from} is your reverse proxy, ` +
        `clawgate config set gateway.trustedProxies '${JSON.stringify([...(proxies ?? []), from])}'; otherwise find out who connects from ${from}.`
    })
  }

  const conns = live?.connections
  const budget = live?.unauthenticatedTotal ?? gw.limits?.unauthenticatedTotal ?? 1024
  // A crowd of connections that have not logged in is what a flood looks like while it happens.
  if (conns && conns.pending >= budget / 2) {
    add({
      id: "gateway.unauthenticated_flood",
      severity: "warn",
      title: "Many connections are open that have not logged in",
      detail:
        `live: ${conns.pending} connections have not logged in (the budget is ${budget} in all, gateway.limits.unauthenticatedTotal), ` +
        `beside ${conns.operators} operator${conns.operators === 1 ? "" : "s"} and ${conns.nodes} node${conns.nodes === 1 ? "" : "s"}: ` +
        "someone may be holding connections open to exhaust it; past the budget the Gateway refuses new ones (loopback keeps 64 more).",
      fix: "clawgate status --deep shows the counts; the Gateway's log names the addresses it refused"
    })
  }

  // --- Files ------------------------------------------------------------------------------------
  const configHasSecret = [gw.auth?.token, gw.auth?.password, remote?.token, remote?.password].some((v) => v !== undefined)
  if (facts.platform !== "win32") {
    for (const file of facts.files) for (const f of fileFindings(file, configHasSecret)) add(f)
  } else {
    add({
      id: "fs.perms_skipped",
      severity: "info",
      title: "File permission checks were skipped",
      detail: "On Windows, access is governed by ACLs, which this audit does not read.",
      fix: "Make sure only your account can read the state directory (icacls)."
    })
  }

  // --- The live Gateway -------------------------------------------------------------------------
  if (!facts.live.reachable) {
    add({
      id: "gateway.live_skipped",
      severity: "info",
      title: "Live checks were skipped: the Gateway did not answer status",
      detail: `${facts.live.url && !facts.live.reason.includes(facts.live.url) ? `${facts.live.url}: ` : ""}${facts.live.reason.replace(/[.\s]+$/, "")}. The findings above come from the config and the files only; the Gateway's actual bind, TLS and the forwarding headers it has seen were not checked.`,
      fix: "Start the Gateway (clawgate gateway run) or point the CLI at it, then run clawgate security audit again."
    })
  } else if (!facts.live.local) {
    const r = facts.live
    const remoteHosts = r.listeners?.map((l) => l.host) ?? []
    const remoteBeyond = remoteHosts.some((h) => !isLoopbackAddress(h))
    const remoteTailnet = remoteHosts.length > 0 && remoteHosts.every((h) => isLoopbackAddress(h) || isTailnetIPv4(h))
    if (remoteBeyond && r.authMode === "none") {
      add({
        id: "gateway.remote.bind_no_auth",
        severity: "critical",
        title: "The remote Gateway listens beyond loopback without authentication",
        detail: `${r.url} (${r.urlSource}) listens on ${remoteHosts.join(", ")} with auth mode "none".`,
        fix: "On that host: clawgate config unset gateway.auth.mode, then set a token, or bind to loopback"
      })
    }
    if (remoteBeyond && r.tls === false) {
      add({
        id: "gateway.remote.bind_no_tls",
        severity: remoteTailnet ? "info" : "warn",
        title: "The remote Gateway listens beyond loopback without TLS",
        detail: `${r.url} (${r.urlSource}) listens on ${remoteHosts.join(", ")} over plain ws://.`,
        fix: "On that host: clawgate config set gateway.tls.enabled true and restart; here: pin its fingerprint (gateway.remote.tlsFingerprint). Or reach it over an SSH tunnel (gateway.remote.transport ssh) or Tailscale Serve."
      })
    }
  }

  return findings.sort((a, b) => order[a.severity] - order[b.severity])
}

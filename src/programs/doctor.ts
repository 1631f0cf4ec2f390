/**
 * `clawgate doctor [--fix]`: what is wrong with this state dir and its config, each finding
 * with the command or file that fixes it, for when the Gateway will not start (it needs no
 * running Gateway). The checks, in order: the config, file modes, the state-dir lock, the
 * port, the TLS certificate, credential strength and reuse, the programs the config needs,
 * the SQLite store, pending pairing requests (and, later, the service unit). With `fix`, it
 * repairs what is safe to repair without asking: modes (the rule StatePermissions applies at
 * start) and a stale lock (only one StateLockFile itself would take over).
 *
 * File modes and credential strength are `security audit`'s own rules (src/security/audit/),
 * applied here to the same facts; doctor adds what the audit does not look at.
 */
import { Effect, Either } from "effect"
import { planBind, resolvePort, SettingError } from "../config/bind.js"
import type { ClawgateConfig } from "../config/schema.js"
import { auditConfig, type AuditFacts, type Finding, filesFindings, stateFiles } from "../security/audit.js"
import { ConfigStore } from "../services/Config.js"
import { DoctorProbes, type LockFact, type StoreFact } from "../services/DoctorProbes.js"
import { ServiceManager } from "../services/ServiceManager.js"
import { Tailscale } from "../services/Tailscale.js"
import { credentialHash } from "../util/secrets.js"

export type DoctorSeverity = "ok" | "info" | "warn" | "critical"

export type DoctorArea = "config" | "files" | "lock" | "port" | "tls" | "credentials" | "tools" | "store" | "pairing" | "service"

export interface DoctorFinding {
  readonly id: string
  readonly area: DoctorArea
  readonly severity: DoctorSeverity
  /** What is wrong (or right), naming the file, key or process. */
  readonly message: string
  /** The command to run or the file to edit; empty when there is nothing to do. */
  readonly fix: string
  /** `--fix` repaired it (the severity is what it was before). */
  readonly fixed?: true | undefined
}

export interface DoctorReport {
  readonly profile: string
  readonly stateDir: string
  readonly configPath: string
  readonly findings: ReadonlyArray<DoctorFinding>
  /** The findings that remain (not fixed), by severity. */
  readonly summary: { readonly critical: number; readonly warn: number; readonly info: number; readonly ok: number }
  /** How many findings `--fix` repaired. */
  readonly fixed: number
}

export interface DoctorOptions {
  readonly fix: boolean
}

/** A certificate expiring within this many days is a warning. */
export const TLS_EXPIRY_WARN_DAYS = 30
const DAY_MS = 86_400_000

/** The credential ids of the audit that doctor reports (strength and reuse). */
const CREDENTIAL_ID = /^gateway\.((remote\.)?(token|password)_(weak|too_short|low_entropy)|credential_reused)$/

interface Context {
  readonly cfg: ClawgateConfig
  /** The config parsed and validated: the checks that read it run. */
  readonly configOk: boolean
  readonly configPath: string
  readonly stateDir: string
  readonly profile: string | undefined
  readonly fix: boolean
  /** `clawgate [--profile NAME] <args>`. */
  readonly cmd: (args: string) => string
}

const f = (area: DoctorArea, id: string, severity: DoctorSeverity, message: string, fix = ""): DoctorFinding => ({
  id,
  area,
  severity,
  message,
  fix
})

const fromAudit = (area: DoctorArea, a: Finding): DoctorFinding => f(area, a.id, a.severity, `${a.title}: ${a.detail}`, a.fix)

const ago = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 120) return `${s} s`
  if (s < 7200) return `${Math.floor(s / 60)} min`
  if (s < 2 * 86400) return `${Math.floor(s / 3600)} h`
  return `${Math.floor(s / 86400)} days`
}

const urlPort = (url: string | undefined): number | undefined => {
  if (url === undefined) return undefined
  try {
    const p = new URL(url).port
    return p === "" ? undefined : Number(p)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------
// 1. The config

const configCheck = (ctx: Context, loaded: Either.Either<{ exists: boolean }, { message: string; reason: string }>) => {
  if (Either.isLeft(loaded)) {
    const e = loaded.left
    return [
      f(
        "config",
        e.reason === "Parse" ? "config.parse" : e.reason === "Io" ? "config.unreadable" : "config.invalid",
        "critical",
        e.message,
        e.reason === "Io" ? `make ${ctx.configPath} readable by this user` : `edit ${ctx.configPath}, then run ${ctx.cmd("doctor")} again`
      ),
      f("config", "config.checks_skipped", "info", "the port, TLS, credential and program checks need a valid config: they were skipped")
    ]
  }
  return loaded.right.exists
    ? [f("config", "config.valid", "ok", `${ctx.configPath} parses and validates`)]
    : [
        f(
          "config",
          "config.missing",
          "info",
          `there is no config file at ${ctx.configPath}: the defaults apply (loopback, a token generated at first start)`,
          `${ctx.cmd("config set <key> <value>")} creates it, if you want to change a default`
        )
      ]
}

// ---------------------------------------------------------------------------
// 2. File and directory modes: the audit's rules, and the Gateway's own repair

const filesCheck = (ctx: Context, auditFacts: AuditFacts) =>
  Effect.gen(function* () {
    const probes = yield* DoctorProbes
    const probed = yield* probes.files(stateFiles(ctx.cfg, ctx.configPath, ctx.stateDir))
    if (auditFacts.platform === "win32") return filesFindings({ ...auditFacts, files: [] }, false).map((a) => fromAudit("files", a))
    const g = ctx.cfg.gateway
    const configHasSecret = [g?.auth?.token, g?.auth?.password, g?.remote?.token, g?.remote?.password].some((v) => v !== undefined)
    const out: Array<DoctorFinding> = []
    for (const file of probed) {
      if (file.symlink) {
        out.push(
          f(
            "files",
            "fs.symlink",
            "info",
            `${file.path} is a symbolic link: its mode is not checked here, and neither doctor nor the Gateway follows it`,
            `replace the link with the file itself if it should be checked`
          )
        )
        continue
      }
      for (const a of filesFindings({ ...auditFacts, files: [file] }, configHasSecret)) {
        const finding = fromAudit("files", a)
        if (!ctx.fix) {
          out.push({ ...finding, fix: `${finding.fix} (or ${ctx.cmd("doctor --fix")})` })
          continue
        }
        const repaired = yield* probes.tighten(file.path)
        out.push(
          repaired.ok
            ? { ...finding, message: `${finding.message} Fixed: ${repaired.note}.`, fixed: true }
            : { ...finding, message: `${finding.message} ${repaired.note}.` }
        )
      }
    }
    if (out.length === 0) {
      out.push(
        f(
          "files",
          "fs.modes",
          "ok",
          `${probed.length} files and directories of ${ctx.stateDir} are owner-only (0600 files, 0700 directories)`
        )
      )
    }
    return out
  })

// ---------------------------------------------------------------------------
// 3. The state-dir lock

const lockCheck = (ctx: Context, lock: LockFact) =>
  Effect.gen(function* () {
    const probes = yield* DoctorProbes
    if (lock.state === "free") return [f("lock", "lock.free", "ok", `no Gateway holds ${ctx.stateDir}`)]
    if (lock.state === "held") {
      const o = lock.owner
      return [
        f(
          "lock",
          "lock.held",
          "info",
          o
            ? `a Gateway is running on ${ctx.stateDir}: pid ${o.pid}, ${o.url ?? "not listening yet"}, started ${o.startedAt}`
            : `a Gateway is starting on ${ctx.stateDir} (it has not recorded its pid yet)`,
          o ? `nothing to do; to stop it: ${ctx.cmd("gateway stop")}` : ""
        )
      ]
    }
    const finding = f(
      "lock",
      "lock.stale",
      "warn",
      `${lock.lockPath} is stale: ${lock.reason}`,
      `${ctx.cmd("doctor --fix")} removes it (the next gateway run would also take it over)`
    )
    if (!ctx.fix) return [finding]
    const removed = yield* probes.removeStaleLock(ctx.stateDir)
    return [
      removed.removed
        ? { ...finding, message: `${finding.message}. Fixed: ${removed.note}.`, fixed: true as const }
        : { ...finding, message: `${finding.message}. ${removed.note}.` }
    ]
  })

// ---------------------------------------------------------------------------
// 4. The port the Gateway would use

const portCheck = (ctx: Context, lock: LockFact) =>
  Effect.gen(function* () {
    if (!ctx.configOk) return []
    const probes = yield* DoctorProbes
    const config = yield* ConfigStore
    let port: number
    let source: string
    let host: string
    try {
      const choice = resolvePort(undefined, config.env, ctx.cfg)
      port = choice.port
      source = choice.source
      host = planBind(ctx.cfg.gateway?.bind ?? "loopback", ctx.cfg).hosts[0] ?? "127.0.0.1"
    } catch (e) {
      if (!(e instanceof SettingError)) throw e
      return [f("port", "port.setting", "critical", e.message, `edit ${ctx.configPath} or the environment variable it names`)]
    }
    if (port === 0) return [f("port", "port.any", "ok", `port 0 (${source}): the Gateway takes a free port at start`)]
    const fact = yield* probes.port(host, port)
    const where = `port ${port} (${source}) on ${host}`
    if (fact.state === "free") return [f("port", "port.free", "ok", `${where} is free`)]
    if (fact.state === "unknown") {
      return [f("port", "port.unknown", "warn", `${where} could not be tried: ${fact.error}`, `check gateway.bind in ${ctx.configPath}`)]
    }
    if (lock.state === "held") {
      const own = urlPort(lock.owner?.url)
      if (own === undefined || own === port) {
        return [f("port", "port.own", "ok", `${where} is held by this state dir's Gateway${lock.owner ? ` (pid ${lock.owner.pid})` : ""}`)]
      }
    }
    return [
      f(
        "port",
        "port.in_use",
        "warn",
        `${where} is held by another process${lock.state === "held" ? ` (this state dir's Gateway listens on ${lock.owner?.url})` : ", and no Gateway of this state dir is running"}: gateway run would fail to listen`,
        `stop the process that holds it (\`ss -ltnp 'sport = :${port}'\` names it), or use another port: ${ctx.cmd(`config set gateway.port ${port + 1}`)}`
      )
    ]
  })

// ---------------------------------------------------------------------------
// 5. The TLS certificate

const tlsCheck = (ctx: Context) =>
  Effect.gen(function* () {
    const tls = ctx.cfg.gateway?.tls
    if (!ctx.configOk || !tls?.enabled) return []
    const probes = yield* DoctorProbes
    const fact = yield* probes.tls(ctx.cfg, ctx.stateDir)
    if (fact.state === "absent") {
      if (fact.generated && tls.autoGenerate !== false) {
        return [
          f(
            "tls",
            "tls.absent",
            "info",
            `there is no certificate yet (${fact.certPath}): one is generated at next start`,
            `${ctx.cmd("gateway tls fingerprint")} generates it now and prints the pin`
          )
        ]
      }
      return [
        f(
          "tls",
          "tls.missing",
          "critical",
          `gateway.tls.enabled is true but ${fact.certPath} and ${fact.keyPath} do not exist: the Gateway will not start`,
          fact.generated
            ? `${ctx.cmd("config set gateway.tls.autoGenerate true")}, or set gateway.tls.certPath and gateway.tls.keyPath`
            : `put the certificate and key there, or edit gateway.tls.certPath / keyPath in ${ctx.configPath}`
        )
      ]
    }
    const regenerate = fact.generated
      ? `rm ${fact.certPath} ${fact.keyPath} (a new pair is generated at next start; clients must pin its new fingerprint)`
      : `point gateway.tls.certPath and gateway.tls.keyPath in ${ctx.configPath} at a matching pair`
    if (fact.error !== undefined) return [f("tls", "tls.unreadable", "critical", `cannot use ${fact.error}`, regenerate)]
    const out: Array<DoctorFinding> = []
    if (fact.keyMatches === false) {
      out.push(
        f("tls", "tls.key_mismatch", "critical", `the key ${fact.keyPath} does not belong to the certificate ${fact.certPath}`, regenerate)
      )
    }
    if (fact.notAfter !== undefined) {
      const days = Math.floor((fact.notAfter - Date.now()) / DAY_MS)
      const until = new Date(fact.notAfter).toISOString()
      if (fact.notAfter <= Date.now())
        out.push(f("tls", "tls.expired", "critical", `the certificate ${fact.certPath} expired on ${until}`, regenerate))
      else if (days < TLS_EXPIRY_WARN_DAYS) {
        out.push(f("tls", "tls.expiring", "warn", `the certificate ${fact.certPath} expires in ${days} days (${until})`, regenerate))
      } else if (out.length === 0) {
        out.push(
          f(
            "tls",
            "tls.valid",
            "ok",
            `the certificate ${fact.certPath} matches its key and is valid for ${days} more days (SHA-256 ${fact.fingerprint})`
          )
        )
      }
    }
    return out
  })

// ---------------------------------------------------------------------------
// 6. Credentials: the audit's strength and reuse rules, and reuse across this host's profiles

const credentialsCheck = (ctx: Context, auditFacts: AuditFacts) =>
  Effect.gen(function* () {
    if (!ctx.configOk) return []
    const probes = yield* DoctorProbes
    const config = yield* ConfigStore
    const out = auditConfig(ctx.cfg, auditFacts)
      .filter((a) => CREDENTIAL_ID.test(a.id))
      .map((a) => fromAudit("credentials", a))
    // The server-side secrets this Gateway would accept, compared by hash with the other profiles'.
    const auth = ctx.cfg.gateway?.auth
    const own = [
      { source: config.env.token?.name, value: config.env.token?.value },
      { source: config.env.password?.name, value: config.env.password?.value },
      { source: "gateway.auth.token", value: auth?.token },
      { source: "gateway.auth.password", value: auth?.password }
    ].flatMap((s) => (s.source !== undefined && s.value ? [{ source: s.source, sha256: credentialHash(s.value) }] : []))
    if (own.length > 0) {
      const others = yield* probes.otherProfiles(ctx.stateDir)
      for (const mine of own) {
        for (const other of others) {
          const same = other.hashes.find((h) => h.sha256 === mine.sha256)
          if (same === undefined) continue
          out.push(
            f(
              "credentials",
              "gateway.credential_reused_profile",
              "warn",
              `${mine.source} is the same secret as ${same.key} in ${other.configPath}: whoever has one Gateway's credential has both`,
              mine.source.startsWith("gateway.")
                ? `${ctx.cmd(`config set ${mine.source} "$(openssl rand -base64 32)"`)} (then update the clients that use it)`
                : `give ${mine.source} a value of its own, e.g. $(openssl rand -base64 32)`
            )
          )
        }
      }
    }
    if (out.length === 0) out.push(f("credentials", "credentials.ok", "ok", "no weak or reused shared secret"))
    return out
  })

// ---------------------------------------------------------------------------
// 7. The programs the config needs: ssh, tailscale (and Serve/Funnel as the mode says)

const toolsCheck = (ctx: Context, lock: LockFact) =>
  Effect.gen(function* () {
    if (!ctx.configOk) return []
    const probes = yield* DoctorProbes
    const out: Array<DoctorFinding> = []
    const gw = ctx.cfg.gateway
    if (gw?.remote?.transport === "ssh") {
      const ssh = yield* probes.which("ssh")
      out.push(
        ssh
          ? f("tools", "tools.ssh", "ok", `ssh is ${ssh} (gateway.remote.transport is "ssh")`)
          : f(
              "tools",
              "tools.ssh_missing",
              "critical",
              `gateway.remote.transport is "ssh" but there is no ssh on PATH: client commands cannot reach ${gw.remote.sshTarget ?? "the remote Gateway"}`,
              `install the OpenSSH client (e.g. apt install openssh-client), or ${ctx.cmd("config set gateway.remote.transport direct")}`
            )
      )
    }
    const mode = gw?.tailscale?.mode ?? "off"
    if (mode === "off") return out
    const tailscalePath = yield* probes.which("tailscale")
    if (tailscalePath === undefined) {
      out.push(
        f(
          "tools",
          "tools.tailscale_missing",
          "critical",
          `gateway.tailscale.mode is "${mode}" but there is no tailscale on PATH: the Gateway cannot publish its port`,
          `install Tailscale and log in (https://tailscale.com/download), or ${ctx.cmd("config set gateway.tailscale.mode off")}`
        )
      )
      return out
    }
    const tailscale = yield* Tailscale
    const status = yield* Effect.either(tailscale.serveStatus)
    if (Either.isLeft(status)) {
      out.push(
        f(
          "tools",
          "tools.tailscale_status",
          "warn",
          `tailscale is ${tailscalePath}, but ${status.left.message}`,
          "start tailscaled and log in: tailscale up"
        )
      )
      return out
    }
    const s = status.right
    const running = lock.state === "held"
    const publish = mode === "funnel" ? "tailscale funnel" : "tailscale serve"
    if (!s.serving) {
      out.push(
        running
          ? f(
              "tools",
              "tools.tailscale_not_serving",
              "warn",
              `gateway.tailscale.mode is "${mode}" and the Gateway runs, but Tailscale publishes nothing`,
              `restart the Gateway (it runs ${publish} at start)`
            )
          : f(
              "tools",
              "tools.tailscale",
              "ok",
              `tailscale is ${tailscalePath}; ${mode === "funnel" ? "Funnel" : "Serve"} is set up at next start`
            )
      )
      return out
    }
    if (s.funnel && mode === "serve") {
      out.push(
        f(
          "tools",
          "tools.tailscale_funnel_on",
          "warn",
          `Tailscale Funnel is on (the public internet) while gateway.tailscale.mode is "serve"`,
          "tailscale funnel reset (then restart the Gateway for Serve)"
        )
      )
    } else if (!s.funnel && mode === "funnel") {
      out.push(
        f(
          "tools",
          "tools.tailscale_funnel_off",
          "warn",
          `gateway.tailscale.mode is "funnel" but Tailscale only serves the tailnet`,
          "restart the Gateway (it runs tailscale funnel at start)"
        )
      )
    } else if (!running) {
      out.push(
        f(
          "tools",
          "tools.tailscale_leftover",
          "info",
          `Tailscale still publishes ${s.proxies.join(", ") || "something"} while no Gateway of this state dir runs (left from an earlier run)`,
          `${mode === "funnel" ? "tailscale funnel reset" : "tailscale serve reset"} (or set gateway.tailscale.resetOnExit)`
        )
      )
    } else {
      out.push(
        f(
          "tools",
          "tools.tailscale",
          "ok",
          `Tailscale ${mode === "funnel" ? "Funnel" : "Serve"} publishes ${s.proxies.join(", ") || "the Gateway"}`
        )
      )
    }
    return out
  })

// ---------------------------------------------------------------------------
// 8. The SQLite store, and 9. pending pairing requests

const storeCheck = (store: StoreFact) => {
  if (store.state === "missing")
    return [f("store", "store.missing", "info", `there is no store yet (${store.path}): it is created at first start`)]
  const moveAside = `stop the Gateway, move ${store.path} aside (mv ${store.path} ${store.path}.broken) and restore a backup; an empty store is created at next start (pairings and sessions are lost)`
  if (store.state === "unreadable")
    return [f("store", "store.unreadable", "critical", `cannot read the store ${store.path}: ${store.error}`, moveAside)]
  const out: Array<DoctorFinding> = []
  if (store.integrity.length !== 1 || store.integrity[0] !== "ok") {
    out.push(
      f(
        "store",
        "store.integrity",
        "critical",
        `the store ${store.path} fails its integrity check: ${store.integrity
          .join("\n")
          .split("\n")
          .filter((l) => l.trim() !== "" && !l.startsWith("***"))
          .slice(0, 3)
          .join("; ")}`,
        moveAside
      )
    )
  }
  const expected = new Set(store.expected.map((m) => m.id))
  const applied = new Set(store.applied.map((m) => m.id))
  const unknown = store.applied.filter((m) => !expected.has(m.id))
  const pending = store.expected.filter((m) => !applied.has(m.id))
  if (unknown.length > 0) {
    out.push(
      f(
        "store",
        "store.newer",
        "critical",
        `the store ${store.path} was migrated by a newer clawgate (${unknown.map((m) => `${m.id}_${m.name}`).join(", ")} unknown to this one)`,
        "run the newer clawgate on this state dir, or restore a backup made by this version"
      )
    )
  } else if (pending.length > 0) {
    out.push(
      f(
        "store",
        "store.migrations_pending",
        "info",
        `the store ${store.path} has ${pending.length} migration${pending.length === 1 ? "" : "s"} to apply (${pending.map((m) => `${m.id}_${m.name}`).join(", ")}): the next start applies ${pending.length === 1 ? "it" : "them"}`,
        ""
      )
    )
  }
  if (out.length === 0) {
    out.push(f("store", "store.ok", "ok", `the store ${store.path} is sound and its ${store.applied.length} migrations are current`))
  }
  return out
}

const pairingCheck = (ctx: Context, store: StoreFact) => {
  if (store.state !== "open" || store.pending.count === 0) return []
  const { count, oldest } = store.pending
  return [
    f(
      "pairing",
      "pairing.pending",
      "info",
      `${count} pairing request${count === 1 ? " waits" : "s wait"} for approval${oldest ? `, the oldest (${oldest.requestId}) for ${ago(Date.now() - oldest.createdAtMs)}` : ""}`,
      `${ctx.cmd("devices list")}, then ${ctx.cmd(`devices approve ${oldest?.requestId ?? "<requestId>"}`)} (or devices reject)`
    )
  ]
}

// ---------------------------------------------------------------------------

const summarize = (findings: ReadonlyArray<DoctorFinding>): DoctorReport["summary"] => {
  const remaining = findings.filter((x) => !x.fixed)
  const count = (s: DoctorSeverity) => remaining.filter((x) => x.severity === s).length
  return { critical: count("critical"), warn: count("warn"), info: count("info"), ok: count("ok") }
}

/**
 * 10. The service unit: none installed is fine (info); an installed one must be the file `gateway
 * install` writes today (this node, this checkout's entrypoint, this profile), or it starts
 * something else than the user runs; a failed or inactive service beside no running Gateway is
 * what keeps the Gateway down.
 */
const serviceCheck = (ctx: Context, lock: LockFact) =>
  Effect.gen(function* () {
    const manager = yield* ServiceManager
    const state = yield* manager.status.pipe(Effect.either)
    if (Either.isLeft(state)) return [f("service", "service.unknown", "warn", `cannot read the service's state: ${state.left.message}`)]
    const s = state.right
    if (s.manager === "unsupported") return [f("service", "service.unsupported", "info", s.error ?? "no service manager on this platform")]
    if (!s.installed) {
      return [
        f(
          "service",
          "service.none",
          "info",
          `no service is installed for this profile (${s.name})`,
          `to run it at login or boot: ${ctx.cmd("gateway install")}`
        )
      ]
    }
    const out: Array<DoctorFinding> = []
    if (s.current === false) {
      out.push(
        f(
          "service",
          "service.stale",
          "warn",
          `${s.unitPath} is not the unit this clawgate writes (another node, entrypoint, profile or state dir: an upgrade or a moved checkout)`,
          ctx.cmd("gateway install --force")
        )
      )
    } else {
      out.push(f("service", "service.current", "ok", `${s.name} is installed (${s.unitPath}) and starts this clawgate`))
    }
    if (s.error !== undefined) out.push(f("service", "service.unknown", "warn", `cannot ask ${s.manager} about ${s.name}: ${s.error}`))
    else if (s.enabled !== undefined && s.enabled !== "enabled") {
      out.push(
        f(
          "service",
          "service.disabled",
          "warn",
          `${s.name} is ${s.enabled}: it will not start at login or boot`,
          ctx.cmd("gateway install")
        )
      )
    }
    if (s.active === "failed" && lock.state !== "held") {
      out.push(
        f(
          "service",
          "service.failed",
          "critical",
          `${s.name} has failed${s.execMainStatus !== undefined ? ` (last exit status ${s.execMainStatus}${s.execMainStatus === 78 ? ": another Gateway held the state dir, so it was not restarted" : ""})` : ""}`,
          `see why: journalctl --user -u ${s.name} -n 50; then ${ctx.cmd("gateway start")}`
        )
      )
    }
    return out
  })

/** The doctor: every check, in a fixed order; repairs only with `fix`. */
export const doctor = (options: DoctorOptions) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const probes = yield* DoctorProbes
    const { configPath, stateDir, profile } = config.paths
    const loaded = yield* Effect.either(config.load)
    const cfg = Either.isRight(loaded) ? loaded.right.config : {}
    const ctx: Context = {
      cfg,
      configOk: Either.isRight(loaded),
      configPath,
      stateDir,
      profile,
      fix: options.fix,
      cmd: (args) => `clawgate ${profile ? `--profile ${profile} ` : ""}${args}`
    }
    const auditFacts: AuditFacts = {
      configPath,
      env: config.env,
      platform: process.platform,
      files: [],
      live: { reachable: false, reason: "doctor does not connect" }
    }
    const lock = yield* probes.lock(stateDir)
    // The store is read only when no Gateway holds the state dir, or briefly (read-only) when one does.
    const store = yield* probes.store(stateDir)

    const checks: ReadonlyArray<
      Effect.Effect<ReadonlyArray<DoctorFinding>, never, ConfigStore | DoctorProbes | Tailscale | ServiceManager>
    > = [
      Effect.succeed(configCheck(ctx, loaded)), // 1. the config
      filesCheck(ctx, auditFacts), // 2. file and directory modes
      lockCheck(ctx, lock), // 3. the state-dir lock
      portCheck(ctx, lock), // 4. the port
      tlsCheck(ctx), // 5. the TLS certificate
      credentialsCheck(ctx, auditFacts), // 6. credential strength and reuse
      toolsCheck(ctx, lock), // 7. ssh, tailscale
      Effect.succeed(storeCheck(store)), // 8. the SQLite store
      Effect.succeed(pairingCheck(ctx, store)), // 9. pending pairing requests
      serviceCheck(ctx, lock) // 10. the service unit
    ]
    const findings = (yield* Effect.all(checks)).flat()
    return {
      profile: profile ?? "default",
      stateDir,
      configPath,
      findings,
      summary: summarize(findings),
      fixed: findings.filter((x) => x.fixed).length
    } satisfies DoctorReport
  }).pipe(Effect.withSpan("doctor", { attributes: { fix: options.fix } }))

const LABEL: Record<DoctorSeverity, string> = { ok: "ok", info: "info", warn: "WARN", critical: "CRITICAL" }
const AREA_TITLE: Record<DoctorArea, string> = {
  config: "Config",
  files: "File modes",
  lock: "State-dir lock",
  port: "Port",
  tls: "TLS certificate",
  credentials: "Credentials",
  tools: "Programs (ssh, tailscale)",
  store: "SQLite store",
  pairing: "Pairing requests",
  service: "Service unit"
}

/** Grouped by area, one finding a line (a config's issues on the lines below it), with its fix. */
export const renderDoctor = (r: DoctorReport): string => {
  const lines = [`clawgate doctor: profile ${r.profile}, state dir ${r.stateDir}, config ${r.configPath}`]
  const areas = [...new Set(r.findings.map((x) => x.area))]
  for (const area of areas) {
    lines.push("", AREA_TITLE[area])
    for (const x of r.findings.filter((y) => y.area === area)) {
      const label = x.fixed ? `FIXED (${x.severity})` : LABEL[x.severity]
      const [first, ...rest] = x.message.split("\n")
      lines.push(`  ${label.padEnd(8)} ${first}${x.fix && !x.fixed ? ` — fix: ${x.fix}` : ""}  [${x.id}]`)
      for (const more of rest) lines.push(`           ${more.trimStart()}`)
    }
  }
  const s = r.summary
  lines.push(
    "",
    `Summary: ${s.critical} critical · ${s.warn} warn · ${s.info} info · ${s.ok} ok${r.fixed > 0 ? ` · ${r.fixed} fixed` : ""}`
  )
  return lines.join("\n")
}

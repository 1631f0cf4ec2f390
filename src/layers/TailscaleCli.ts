/**
 * Tailscale through the `tailscale` CLI found on PATH (or an executable the
 * caller names). Each command runs with a deadline and is killed when it is
 * interrupted. `whois` answers are cached per address (a minute for an
 * answer, a few seconds for a failure, a bounded number of addresses);
 * concurrent lookups of one address share one process, and at most a few
 * processes run at once, because these lookups happen before a client has
 * proven anything.
 */
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as net from "node:net"
import { Cache, Duration, Effect, Exit, Fiber, FiberSet, Layer, Option, Ref, type Scope } from "effect"
import { type ServeStatus, Tailscale, TailscaleError, type TailscaleService } from "../services/Tailscale.js"
import {
  CommandExecutorLive,
  describeSpawnError,
  drain,
  exitStatus,
  HeadCapture,
  lastLines,
  startProcess,
  TailCapture
} from "../util/childProcess.js"

export interface TailscaleCliOptions {
  /** The executable: a name looked up on the PATH of `env`, or a path (default "tailscale"). */
  readonly executable?: string | undefined
  /** The environment the executable runs with, and only it (default: this process's). */
  readonly env?: Record<string, string | undefined> | undefined
  /** Deadline for `serve`, `funnel` and `reset` (default 15 s). */
  readonly commandTimeoutMs?: number | undefined
  /** Deadline for one `whois`, waiting for a free slot included (default 5 s). */
  readonly whoisTimeoutMs?: number | undefined
  /** `whois` processes running at once (default 4). */
  readonly whoisConcurrency?: number | undefined
  /** How long an answer is kept (default 60 s). */
  readonly whoisTtlMs?: number | undefined
  /** How long a failure is kept (default 5 s). */
  readonly whoisFailureTtlMs?: number | undefined
  /** Addresses kept at most; the oldest is forgotten first (default 1000). */
  readonly whoisCacheSize?: number | undefined
}

/** Output kept from stdout: whois and serve answers are small. */
const MAX_OUTPUT = 256 * 1024
/** Characters kept from the end of stderr, for the error message. */
const STDERR_TAIL = 4000
/** The whois cache starts over after this many misses per address it may hold (see makeWhoisCache). */
const RENEW_AFTER_MISSES_PER_ENTRY = 8
/** Between SIGTERM and SIGKILL when a command is cut off. */
const KILL_GRACE_MS = 1_000

/** Runs `tailscale <args>` to its end within `timeoutMs`; its stdout when it exits 0. */
const run = (
  executor: CommandExecutor.CommandExecutor,
  executable: string,
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined>,
  timeoutMs: number
): Effect.Effect<string, TailscaleError> => {
  const command = [executable, ...args].join(" ")
  return Effect.gen(function* () {
    const child = yield* startProcess(Command.make(executable, ...args).pipe(Command.env(env, { extendEnv: false })), {
      killGraceMs: KILL_GRACE_MS
    }).pipe(
      Effect.mapError((e) =>
        e._tag === "SystemError" && e.reason === "NotFound"
          ? new TailscaleError({
              reason: "NotFound",
              command,
              message: `cannot run "${executable}": not found on PATH (install Tailscale and log in, or set gateway.tailscale.mode "off")`
            })
          : new TailscaleError({ reason: "Failed", command, message: `cannot run "${executable}": ${describeSpawnError(e)}` })
      )
    )
    const stdout = new HeadCapture(MAX_OUTPUT)
    const stderr = new TailCapture(STDERR_TAIL)
    const [status] = yield* Effect.all([exitStatus(child), drain(child.stdout, stdout.push), drain(child.stderr, stderr.push)], {
      concurrency: "unbounded"
    })
    if (status.code === 0) return stdout.text()
    const why = stderr.text().trim() || stdout.text().trim()
    return yield* new TailscaleError({
      reason: "Failed",
      command,
      message: `\`${command}\` failed (${status.signal ?? `exit ${status.code}`})${why ? `: ${lastLines(why)}` : ""}`
    })
  }).pipe(
    // Cut off (the deadline, or the Gateway stopping): the scope closes and the process goes too.
    Effect.scoped,
    Effect.provideService(CommandExecutor.CommandExecutor, executor),
    Effect.timeoutFail({
      duration: Duration.millis(timeoutMs),
      onTimeout: () => new TailscaleError({ reason: "Timeout", command, message: `\`${command}\` did not answer within ${timeoutMs} ms` })
    })
  )
}

/** `UserProfile.LoginName` from `tailscale whois --json`; tolerates noise around the JSON object. */
export const parseWhoisLogin = (stdout: string): Option.Option<string> | undefined => {
  const text = stdout.trim()
  const start = text.indexOf("{")
  const end = text.lastIndexOf("}")
  if (start === -1 || end <= start) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text.slice(start, end + 1))
  } catch {
    return undefined
  }
  const profile = (parsed as { UserProfile?: { LoginName?: unknown } } | null)?.UserProfile
  const login = typeof profile?.LoginName === "string" ? profile.LoginName.trim() : ""
  return login === "" ? Option.none() : Option.some(login)
}

/** Proxy targets kept from a serve status. */
const MAX_PROXIES = 32

/**
 * `tailscale serve status --json`: `{}` when nothing is served, else `TCP` / `Web` entries (the
 * handlers' `Proxy` targets) and `AllowFunnel` for the ones on the public internet.
 */
export const parseServeStatus = (stdout: string): ServeStatus | undefined => {
  const text = stdout.trim()
  if (text === "" || text === "null") return { serving: false, funnel: false, proxies: [] }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined
  const o = parsed as Record<string, unknown>
  const nonEmpty = (v: unknown) => typeof v === "object" && v !== null && Object.keys(v).length > 0
  const funnel = typeof o.AllowFunnel === "object" && o.AllowFunnel !== null && Object.values(o.AllowFunnel).some((v) => v === true)
  const proxies: Array<string> = []
  const web = typeof o.Web === "object" && o.Web !== null ? Object.values(o.Web) : []
  for (const site of web) {
    const handlers = (site as { Handlers?: unknown } | null)?.Handlers
    if (typeof handlers !== "object" || handlers === null) continue
    for (const h of Object.values(handlers)) {
      const proxy = (h as { Proxy?: unknown } | null)?.Proxy
      if (typeof proxy === "string" && proxies.length < MAX_PROXIES) proxies.push(proxy.slice(0, 512))
    }
  }
  return { serving: nonEmpty(o.TCP) || nonEmpty(o.Web), funnel, proxies }
}

export interface WhoisCacheOptions {
  /** How long an answer is kept. */
  readonly ttlMs: number
  /** How long a failure is kept. */
  readonly failureTtlMs: number
  /** Addresses kept at most. */
  readonly capacity: number
  /** Lookups running at once. */
  readonly concurrency: number
  /** Deadline for one lookup, waiting for a free slot included. */
  readonly timeoutMs: number
  /** The command a lookup runs, for the timeout error. */
  readonly command: (ip: string) => string
}

/**
 * `lookup` behind a Cache: an answer is kept `ttlMs`, a failure
 * `failureTtlMs`, at most `capacity` addresses (the one looked up longest ago
 * goes first); concurrent askers for one address share one lookup, and at most
 * `concurrency` lookups run at once. A lookup runs in a fiber of the scope,
 * not of the asker, so an asker that goes away (its connection closed) does
 * not interrupt the lookup the others wait for; lookups stop with the scope.
 */
export const makeWhoisCache = (
  lookup: (ip: string) => Effect.Effect<Option.Option<string>, TailscaleError>,
  options: WhoisCacheOptions
): Effect.Effect<(ip: string) => Effect.Effect<Option.Option<string>, TailscaleError>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const slots = yield* Effect.makeSemaphore(options.concurrency)
    const askers = yield* FiberSet.make<Exit.Exit<Option.Option<string>, TailscaleError>>()
    const makeCache = Cache.makeWith({
      capacity: options.capacity,
      lookup: (ip: string) =>
        slots
          .withPermits(1)(lookup(ip))
          .pipe(
            Effect.timeoutFail({
              duration: Duration.millis(options.timeoutMs),
              onTimeout: () =>
                new TailscaleError({
                  reason: "Timeout",
                  command: options.command(ip),
                  message: `tailscale whois ${ip} did not answer within ${options.timeoutMs} ms`
                })
            })
          ),
      timeToLive: Exit.match({
        onSuccess: () => Duration.millis(options.ttlMs),
        onFailure: () => Duration.millis(options.failureTtlMs)
      })
    })
    // Effect's Cache (3.x) keeps two access records for every miss and drops them only once it
    // holds more than `capacity` addresses, so a few addresses asked again after each expiry
    // would grow it without end. It is started over after this many misses instead: at worst
    // one more lookup for each address it held.
    const renewAfter = RENEW_AFTER_MISSES_PER_ENTRY * Math.max(1, options.capacity)
    const current = yield* Ref.make(yield* makeCache)
    const get = (ip: string) =>
      Effect.flatMap(Ref.get(current), (cache) =>
        Effect.ensuring(
          cache.get(ip),
          Effect.flatMap(cache.cacheStats, (stats) =>
            stats.misses >= renewAfter
              ? Effect.flatMap(makeCache, (fresh) => Ref.update(current, (c) => (c === cache ? fresh : c)))
              : Effect.void
          )
        )
      )
    return (ip) => FiberSet.run(askers, Effect.exit(get(ip))).pipe(Effect.flatMap(Fiber.join), Effect.flatten)
  })

export const makeTailscaleCli = (options: TailscaleCliOptions = {}) =>
  Effect.gen(function* () {
    const executor = yield* CommandExecutor.CommandExecutor
    const executable = options.executable ?? "tailscale"
    const env = options.env ?? process.env
    const commandTimeoutMs = options.commandTimeoutMs ?? 15_000
    const whoisTimeoutMs = options.whoisTimeoutMs ?? 5_000

    const command = (args: ReadonlyArray<string>) => run(executor, executable, args, env, commandTimeoutMs).pipe(Effect.asVoid)

    const lookup = (ip: string) =>
      Effect.flatMap(run(executor, executable, ["whois", "--json", ip], env, whoisTimeoutMs), (stdout) => {
        const login = parseWhoisLogin(stdout)
        return login === undefined
          ? Effect.fail(
              new TailscaleError({
                reason: "Output",
                command: `${executable} whois --json ${ip}`,
                message: `tailscale whois ${ip} did not answer with JSON`
              })
            )
          : Effect.succeed(login)
      })

    const cached = yield* makeWhoisCache(lookup, {
      ttlMs: options.whoisTtlMs ?? 60_000,
      failureTtlMs: options.whoisFailureTtlMs ?? 5_000,
      capacity: options.whoisCacheSize ?? 1_000,
      concurrency: options.whoisConcurrency ?? 4,
      timeoutMs: whoisTimeoutMs,
      command: (ip) => `${executable} whois --json ${ip}`
    })

    const whois: TailscaleService["whois"] = (ip) =>
      net.isIP(ip)
        ? cached(ip)
        : Effect.fail(
            new TailscaleError({ reason: "Failed", command: "tailscale whois", message: `${JSON.stringify(ip)} is not an IP address` })
          )

    return Tailscale.of({
      serve: ({ funnel, target }) =>
        command([funnel ? "funnel" : "serve", "--bg", "--yes", target]).pipe(
          Effect.withSpan("Tailscale.serve", { attributes: { funnel, target } })
        ),
      reset: ({ funnel }) =>
        command([funnel ? "funnel" : "serve", "reset"]).pipe(Effect.withSpan("Tailscale.reset", { attributes: { funnel } })),
      whois: (ip) => Effect.withSpan(whois(ip), "Tailscale.whois", { attributes: { ip: ip.slice(0, 64) } }),
      serveStatus: Effect.flatMap(run(executor, executable, ["serve", "status", "--json"], env, commandTimeoutMs), (stdout) => {
        const status = parseServeStatus(stdout)
        return status === undefined
          ? Effect.fail(
              new TailscaleError({
                reason: "Output",
                command: `${executable} serve status --json`,
                message: "tailscale serve status did not answer with JSON"
              })
            )
          : Effect.succeed(status)
      })
    })
  })

/**
 * Tailscale via the `tailscale` executable; lookups in flight stop with the
 * layer. It brings its own CommandExecutor, so it needs nothing.
 */
export const TailscaleCli = (options: TailscaleCliOptions = {}): Layer.Layer<Tailscale> =>
  Layer.scoped(Tailscale, makeTailscaleCli(options)).pipe(Layer.provide(CommandExecutorLive))

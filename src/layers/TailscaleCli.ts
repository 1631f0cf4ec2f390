/**
 * Tailscale through the `tailscale` CLI found on PATH (or an executable the
 * caller names). Each command runs with a deadline and is killed when it is
 * interrupted. `whois` answers are cached per address (a minute for an
 * answer, a few seconds for a failure, a bounded number of addresses);
 * concurrent lookups of one address share one process, and at most a few
 * processes run at once, because these lookups happen before a client has
 * proven anything.
 */
import { spawn } from "node:child_process"
import * as net from "node:net"
import { Clock, Deferred, Duration, Effect, Exit, FiberSet, Layer, Option } from "effect"
import { Tailscale, TailscaleError, type TailscaleService } from "../services/Tailscale.js"

export interface TailscaleCliOptions {
  /** The executable: a name looked up on the PATH of `env`, or a path (default "tailscale"). */
  readonly executable?: string | undefined
  /** The environment the executable runs with (default: this process's). */
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

/** Output kept per stream: whois and serve answers are small. */
const MAX_OUTPUT = 256 * 1024

const lastLines = (text: string) => text.trim().split("\n").slice(-3).join(" / ")

const run = (executable: string, args: ReadonlyArray<string>, env: Record<string, string | undefined>, timeoutMs: number) => {
  const command = [executable, ...args].join(" ")
  return Effect.async<string, TailscaleError>((resume) => {
    let stdout = ""
    let stderr = ""
    let done = false
    const finish = (effect: Effect.Effect<string, TailscaleError>) => {
      if (done) return
      done = true
      resume(effect)
    }
    const child = spawn(executable, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout!.on("data", (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString()
    })
    child.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    child.once("error", (e: NodeJS.ErrnoException) =>
      finish(
        Effect.fail(
          e.code === "ENOENT"
            ? new TailscaleError({
                reason: "NotFound",
                command,
                message: `cannot run "${executable}": not found on PATH (install Tailscale and log in, or set gateway.tailscale.mode "off")`
              })
            : new TailscaleError({ reason: "Failed", command, message: `cannot run "${executable}": ${e.message}` })
        )
      )
    )
    child.once("close", (code, signal) => {
      if (code === 0) return finish(Effect.succeed(stdout))
      const why = stderr.trim() || stdout.trim()
      finish(
        Effect.fail(
          new TailscaleError({
            reason: "Failed",
            command,
            message: `\`${command}\` failed (${signal ?? `exit ${code}`})${why ? `: ${lastLines(why)}` : ""}`
          })
        )
      )
    })
    // Interrupted (a deadline, or the Gateway stopping): the process goes too.
    return Effect.sync(() => {
      done = true
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  }).pipe(
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

interface WhoisEntry {
  readonly result: Deferred.Deferred<Option.Option<string>, TailscaleError>
  /** Infinity while the lookup runs. */
  expiresAt: number
}

export const makeTailscaleCli = (options: TailscaleCliOptions = {}) =>
  Effect.gen(function* () {
    const executable = options.executable ?? "tailscale"
    const env = options.env ?? process.env
    const commandTimeoutMs = options.commandTimeoutMs ?? 15_000
    const whoisTimeoutMs = options.whoisTimeoutMs ?? 5_000
    const ttlMs = options.whoisTtlMs ?? 60_000
    const failureTtlMs = options.whoisFailureTtlMs ?? 5_000
    const maxEntries = options.whoisCacheSize ?? 1_000
    const slots = yield* Effect.makeSemaphore(options.whoisConcurrency ?? 4)
    // Lookups run here, not in the asking fiber, so one asker going away does not fail the others;
    // they stop with the layer.
    const lookups = yield* FiberSet.make()
    const entries = new Map<string, WhoisEntry>()

    const command = (args: ReadonlyArray<string>) => run(executable, args, env, commandTimeoutMs).pipe(Effect.asVoid)

    const lookup = (ip: string) =>
      slots.withPermits(1)(
        Effect.flatMap(run(executable, ["whois", "--json", ip], env, whoisTimeoutMs), (stdout) => {
          const login = parseWhoisLogin(stdout)
          return login === undefined
            ? Effect.fail(
                new TailscaleError({ reason: "Output", command: `${executable} whois --json ${ip}`, message: `tailscale whois ${ip} did not answer with JSON` })
              )
            : Effect.succeed(login)
        })
      ).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(whoisTimeoutMs),
          onTimeout: () =>
            new TailscaleError({
              reason: "Timeout",
              command: `${executable} whois --json ${ip}`,
              message: `tailscale whois ${ip} did not answer within ${whoisTimeoutMs} ms`
            })
        })
      )

    const whois: TailscaleService["whois"] = (ip) =>
      Effect.gen(function* () {
        if (!net.isIP(ip)) {
          return yield* new TailscaleError({ reason: "Failed", command: "tailscale whois", message: `${JSON.stringify(ip)} is not an IP address` })
        }
        const now = yield* Clock.currentTimeMillis
        const hit = entries.get(ip)
        if (hit !== undefined && hit.expiresAt > now) return yield* Deferred.await(hit.result)
        const entry: WhoisEntry = { result: yield* Deferred.make<Option.Option<string>, TailscaleError>(), expiresAt: Infinity }
        entries.delete(ip)
        entries.set(ip, entry)
        while (entries.size > maxEntries) {
          const oldest = entries.keys().next().value
          if (oldest === undefined) break
          entries.delete(oldest)
        }
        yield* FiberSet.run(
          lookups,
          Effect.exit(lookup(ip)).pipe(
            Effect.flatMap((exit) =>
              Effect.flatMap(Clock.currentTimeMillis, (done) => {
                entry.expiresAt = done + (Exit.isSuccess(exit) ? ttlMs : failureTtlMs)
                return Deferred.done(entry.result, exit)
              })
            ),
            Effect.onInterrupt(() =>
              Effect.sync(() => entries.get(ip) === entry && entries.delete(ip)).pipe(Effect.zipRight(Deferred.interrupt(entry.result)))
            )
          )
        )
        return yield* Deferred.await(entry.result)
      })

    return Tailscale.of({
      serve: ({ funnel, target }) => command([funnel ? "funnel" : "serve", "--bg", "--yes", target]),
      reset: ({ funnel }) => command([funnel ? "funnel" : "serve", "reset"]),
      whois
    })
  })

/** Tailscale via the `tailscale` executable; lookups in flight stop with the layer. */
export const TailscaleCli = (options: TailscaleCliOptions = {}) => Layer.scoped(Tailscale, makeTailscaleCli(options))

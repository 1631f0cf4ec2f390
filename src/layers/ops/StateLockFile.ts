/**
 * The state dir's lock, with proper-lockfile: an atomic `mkdir
 * <stateDir>/gateway.lock` whose mtime the holder refreshes every few seconds.
 * Beside it, `<stateDir>/gateway.lock.json` (0600) names the holder (pid, URL,
 * state dir, start time) so a second start can say who is running.
 *
 * A lock left by a Gateway that was killed is taken over: when the recorded pid
 * is not running, or when the lock has not been refreshed within `staleMs`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Deferred, Effect, Layer } from "effect"
import type * as ProperLockfile from "proper-lockfile"
import { ConfigStore } from "../../services/Config.js"
import { type LockOwner, StateLock, StateLockError, StateLockHeld, type StateLockService } from "../../services/StateLock.js"

export const LOCK_NAME = "gateway.lock"
export const OWNER_NAME = "gateway.lock.json"
/** A lock not refreshed for this long is stale (the holder refreshes it every 3 s). */
export const DEFAULT_STALE_MS = 10_000

export interface StateLockOptions {
  /** A lock not refreshed for this long is taken over (default 10 s; proper-lockfile's minimum is 2 s). */
  readonly staleMs?: number
  /** How often the holder refreshes it (default 3 s; at most half of `staleMs`). */
  readonly updateMs?: number
  /** The profile this state dir belongs to, for the commands the messages suggest. */
  readonly profile?: string | undefined
}

/**
 * proper-lockfile, loaded without its SIGINT/SIGTERM hooks. It loads `signal-exit`, whose handler
 * re-kills the process when it is the last listener of a signal: the runtime removes its own as it
 * starts the graceful stop, so signal-exit would kill the Gateway before its finalizers ran (and
 * before this lock was released). The lock is released by the layer's finalizer instead; a Gateway
 * killed outright leaves a lock the next start takes over.
 */
type Lockfile = Pick<typeof ProperLockfile, "lock">
let loaded: Promise<Lockfile> | undefined
const loadLockfile = (): Promise<Lockfile> => {
  loaded ??= (async () => {
    const signals = ["SIGINT", "SIGTERM"] as const
    const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]))
    const mod = await import("proper-lockfile")
    for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s)?.has(l)) process.removeListener(s, l)
    return ((mod as unknown as { default?: Lockfile }).default ?? mod) as Lockfile
  })()
  return loaded
}

/**
 * Alive as far as signal 0 can tell (EPERM is a live process of another user), and on Linux not a
 * zombie: a Gateway killed with SIGKILL whose parent has not reaped it yet holds nothing any more.
 */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return true
  }
}

/** The recorded holder, bounded and checked; undefined when missing or not ours to trust. */
export const readOwner = (stateDir: string): LockOwner | undefined => {
  try {
    const file = path.join(stateDir, OWNER_NAME)
    const st = fs.lstatSync(file)
    if (!st.isFile() || st.size > 4096) return undefined
    const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>
    const pid = raw.pid
    if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return undefined
    const str = (v: unknown) => (typeof v === "string" && v.length <= 1024 ? v : undefined)
    return { pid, stateDir: str(raw.stateDir) ?? stateDir, startedAt: str(raw.startedAt) ?? "unknown", url: str(raw.url) }
  } catch {
    return undefined
  }
}

const writeOwner = (stateDir: string, owner: LockOwner) => {
  const file = path.join(stateDir, OWNER_NAME)
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify(owner, null, 2)}\n`, { mode: 0o600 })
  fs.renameSync(tmp, file)
}

export const heldMessage = (stateDir: string, owner: LockOwner | undefined, profile?: string): string =>
  [
    owner
      ? `another Gateway is already running on the state dir ${owner.stateDir} (pid ${owner.pid}, ${owner.url ?? "not listening yet"}, started ${owner.startedAt})`
      : `another Gateway is already running on the state dir ${stateDir} (it is starting and has not recorded its pid yet)`,
    owner
      ? `  stop it with: clawgate ${profile ? `--profile ${profile} ` : ""}gateway stop (or kill ${owner.pid})`
      : `  its lock is ${path.join(stateDir, LOCK_NAME)}`,
    "  or run a second, isolated Gateway with its own state dir and port: clawgate --profile NAME gateway run"
  ].join("\n")

/**
 * What is wrong with a lock someone holds, if it is one to take over; undefined when there is no
 * lock directory or its holder is alive. `clawgate doctor --fix` removes a lock on the same rules.
 */
export const staleReason = (lockPath: string, owner: LockOwner | undefined, staleMs: number = DEFAULT_STALE_MS): string | undefined => {
  let mtime: number
  try {
    mtime = fs.statSync(lockPath).mtimeMs
  } catch {
    return undefined
  }
  if (owner && owner.pid !== process.pid && !pidAlive(owner.pid)) {
    return `the lock of pid ${owner.pid} (started ${owner.startedAt}), which is not running any more`
  }
  const age = Date.now() - mtime
  if (age > staleMs) {
    return `a lock not refreshed for ${Math.round(age / 1000)} s${owner ? ` (pid ${owner.pid}, started ${owner.startedAt})` : ""}`
  }
  return undefined
}

/** Takes the lock on `stateDir` for the layer's scope; released (and the owner file removed) when it closes. */
export const StateLockFile = (stateDir: string, options: StateLockOptions = {}) =>
  Layer.scoped(
    StateLock,
    Effect.gen(function* () {
      const staleMs = Math.max(options.staleMs ?? DEFAULT_STALE_MS, 2_000)
      const updateMs = Math.min(options.updateMs ?? 3_000, staleMs / 2)
      const lockPath = path.join(stateDir, LOCK_NAME)
      const lost = yield* Deferred.make<never, StateLockError>()
      const io = (what: string) => (e: unknown) =>
        new StateLockError({ reason: "Io", stateDir, message: `cannot ${what} ${lockPath}: ${(e as Error).message}` })

      const acquire = Effect.gen(function* () {
        yield* Effect.try({ try: () => fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 }), catch: io("create the state dir for") })
        const before = readOwner(stateDir)
        const tookOver = staleReason(lockPath, before, staleMs)
        if (tookOver) {
          yield* Effect.try({ try: () => fs.rmSync(lockPath, { recursive: true, force: true }), catch: io("remove the stale lock") })
        }
        const lockfile = yield* Effect.promise(loadLockfile)
        const release = yield* Effect.tryPromise({
          try: () =>
            lockfile.lock(path.join(stateDir, "gateway"), {
              lockfilePath: lockPath,
              realpath: false,
              stale: staleMs,
              update: updateMs,
              retries: 0,
              // From a timer: never throw there. The Gateway sees `lost` fail and stops cleanly.
              onCompromised: (e) =>
                void Deferred.unsafeDone(
                  lost,
                  Effect.fail(
                    new StateLockError({
                      reason: "Lost",
                      stateDir,
                      message: `the state dir lock ${lockPath} was lost (${e.message}): another process removed or took it, so this Gateway stops`
                    })
                  )
                )
            }),
          catch: (e) =>
            (e as NodeJS.ErrnoException).code === "ELOCKED"
              ? new StateLockHeld({
                  stateDir,
                  owner: readOwner(stateDir),
                  message: heldMessage(stateDir, readOwner(stateDir), options.profile)
                })
              : io("take the lock")(e)
        })
        // mkdir gave it the umask's mode; the state dir's files are the owner's alone (StatePermissions).
        yield* Effect.try(() => fs.chmodSync(lockPath, 0o700)).pipe(Effect.ignore)
        const owner: LockOwner = { pid: process.pid, stateDir, startedAt: new Date().toISOString() }
        yield* Effect.try({ try: () => writeOwner(stateDir, owner), catch: io("record the owner beside") })
        return { release, owner, tookOver }
      })

      const held = yield* Effect.acquireRelease(acquire, ({ release }) =>
        Effect.promise(async () => {
          // Only our own facts are removed: after a lost lock they may be the new holder's.
          if (readOwner(stateDir)?.pid === process.pid) fs.rmSync(path.join(stateDir, OWNER_NAME), { force: true })
          await release().catch(() => undefined)
        })
      )

      let owner = held.owner
      const service: StateLockService = {
        stateDir,
        lockPath,
        tookOver: held.tookOver,
        recordUrl: (url) =>
          Effect.sync(() => {
            owner = { ...owner, url }
            try {
              writeOwner(stateDir, owner)
            } catch {
              // The facts are a courtesy for a second start; the lock itself is what keeps it out.
            }
          }),
        lost: Deferred.await(lost)
      }
      return service
    })
  )

/** The lock on the state dir Config names. */
export const StateLockFromConfig = (options: StateLockOptions = {}) =>
  Layer.unwrapEffect(
    Effect.map(ConfigStore, (config) => StateLockFile(config.paths.stateDir, { profile: config.paths.profile, ...options }))
  )

/**
 * Child processes (ssh, tailscale, `system.run`) through @effect/platform's
 * `Command`, with what all three need on top: the process lives in the
 * caller's Scope and closing it stops the process (SIGTERM to its process
 * group, SIGKILL after a grace period), output is kept within bounds, and the
 * exit is told as a code or a signal.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Duration, Effect, Fiber, Layer, Stream, type Scope } from "effect"

/** The Node executor with the file system it checks a working directory with. */
export const CommandExecutorLive: Layer.Layer<CommandExecutor.CommandExecutor> = NodeCommandExecutor.layer.pipe(
  Layer.provide(NodeFileSystem.layer)
)

/** How a process ended: `code` when it exited, `signal` when a signal ended it. */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: string | null
}

/** Stops a running process: SIGTERM to its process group, SIGKILL when it is still there after `graceMs`. */
export const stopProcess = (process: CommandExecutor.Process, graceMs: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (!(yield* Effect.orElseSucceed(process.isRunning, () => false))) return
    // `kill` signals the process group and waits for the exit.
    const stopped = yield* process.kill("SIGTERM").pipe(Effect.timeout(Duration.millis(graceMs)), Effect.isSuccess)
    if (stopped) return
    yield* process.kill("SIGKILL").pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore)
  })

/**
 * Starts `command` with stdin at end-of-file (nothing is ever written to it);
 * closing the current scope stops the process as `stopProcess` does.
 */
export const startProcess = (
  command: Command.Command,
  options: { readonly killGraceMs: number }
): Effect.Effect<CommandExecutor.Process, PlatformError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.tap(Command.start(Command.stdin(command, Stream.empty)), (process) =>
    Effect.addFinalizer(() =>
      // A finalizer runs uninterruptibly, and there a deadline cannot cut off the wait for an
      // exit; a fiber of its own, interruptible, can, and the finalizer waits for that fiber.
      Effect.flatMap(Effect.forkDaemon(Effect.interruptible(stopProcess(process, options.killGraceMs))), Fiber.join)
    )
  )

/**
 * The process's exit. The executor fails `exitCode` when a signal ended the
 * process and names the signal only in its message ("Process interrupted due
 * to receipt of signal: SIGTERM"), so the signal is read from there.
 */
export const exitStatus = (process: CommandExecutor.Process): Effect.Effect<ExitStatus> =>
  process.exitCode.pipe(
    Effect.map((code): ExitStatus => ({ code, signal: null })),
    Effect.catchAll((e) => Effect.succeed<ExitStatus>({ code: null, signal: /signal: (\w+)/.exec(e.message)?.[1] ?? "unknown signal" }))
  )

/** Reads `stream` to its end, handing each chunk to `onChunk`; a read error ends it like end-of-file. */
export const drain = (stream: Stream.Stream<Uint8Array, PlatformError>, onChunk: (chunk: Uint8Array) => void): Effect.Effect<void> =>
  Stream.runForEach(stream, (chunk) => Effect.sync(() => onChunk(chunk))).pipe(Effect.ignore)

/** The first `cap` bytes of a stream; the rest is read and dropped (so the writer never blocks). */
export class HeadCapture {
  private chunks: Array<Uint8Array> = []
  private size = 0
  truncated = false
  constructor(private readonly cap: number) {}
  readonly push = (chunk: Uint8Array): void => {
    const room = this.cap - this.size
    if (room <= 0) {
      this.truncated ||= chunk.length > 0
      return
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk
    if (kept.length < chunk.length) this.truncated = true
    this.chunks.push(kept)
    this.size += kept.length
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8")
  }
}

/** The last `chars` characters of a stream's text. */
export class TailCapture {
  private readonly decoder = new TextDecoder()
  private kept = ""
  constructor(private readonly chars: number) {}
  readonly push = (chunk: Uint8Array): void => {
    this.kept = (this.kept + this.decoder.decode(chunk, { stream: true })).slice(-this.chars)
  }
  text(): string {
    return this.kept
  }
}

/** Its last three lines, joined with " / ": enough of stderr to say what went wrong. */
export const lastLines = (text: string): string => text.trim().split("\n").slice(-3).join(" / ")

/** What the executor's error says, without its module prefix: the OS's own words ("spawn ssh ENOENT"). */
export const describeSpawnError = (e: PlatformError): string =>
  e._tag === "SystemError" && e.cause instanceof Error ? e.cause.message : (e.description ?? e.message)

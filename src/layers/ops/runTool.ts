/**
 * Runs a service manager's command line tool (`systemctl`, `launchctl`, `loginctl`) to its end
 * within a deadline, through @effect/platform's Command: its exit code and bounded output.
 */
import * as Command from "@effect/platform/Command"
import { Data, Duration, Effect } from "effect"
import {
  CommandExecutorLive,
  describeSpawnError,
  drain,
  exitStatus,
  HeadCapture,
  startProcess,
  TailCapture
} from "../../util/childProcess.js"

export interface ToolResult {
  /** The command line, for messages. */
  readonly command: string
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

export class ToolError extends Data.TaggedError("ToolError")<{
  readonly reason: "NotFound" | "Failed" | "Timeout"
  readonly command: string
  readonly message: string
}> {}

const MAX_STDOUT = 256 * 1024
const STDERR_TAIL = 4000

/** Runs `executable args...`; fails only when it cannot be started or does not end within `timeoutMs`. */
export const runTool = (executable: string, args: ReadonlyArray<string>, timeoutMs = 30_000): Effect.Effect<ToolResult, ToolError> => {
  const command = [executable, ...args].join(" ")
  return Effect.gen(function* () {
    const child = yield* startProcess(Command.make(executable, ...args), { killGraceMs: 1_000 }).pipe(
      Effect.mapError((e) =>
        e._tag === "SystemError" && e.reason === "NotFound"
          ? new ToolError({ reason: "NotFound", command, message: `cannot run "${executable}": not found on PATH` })
          : new ToolError({ reason: "Failed", command, message: `cannot run "${executable}": ${describeSpawnError(e)}` })
      )
    )
    const stdout = new HeadCapture(MAX_STDOUT)
    const stderr = new TailCapture(STDERR_TAIL)
    const [status] = yield* Effect.all([exitStatus(child), drain(child.stdout, stdout.push), drain(child.stderr, stderr.push)], {
      concurrency: "unbounded"
    })
    return { command, code: status.code, signal: status.signal, stdout: stdout.text(), stderr: stderr.text() }
  }).pipe(
    Effect.scoped,
    Effect.provide(CommandExecutorLive),
    Effect.timeoutFail({
      duration: Duration.millis(timeoutMs),
      onTimeout: () =>
        new ToolError({ reason: "Timeout", command, message: `\`${command}\` did not finish within ${Math.round(timeoutMs / 1000)} s` })
    })
  )
}

/** What went wrong with a finished command, in one line: its exit and the end of its stderr. */
export const describeExit = (r: ToolResult): string => {
  const why = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join(" / ")
  return `\`${r.command}\` failed (${r.signal ?? `exit ${r.code}`})${why ? `: ${why}` : ""}`
}

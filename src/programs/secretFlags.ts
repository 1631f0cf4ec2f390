/**
 * Secrets on the command line: `--token T` is visible to every local user in
 * the process list (`ps`, /proc/<pid>/cmdline), so every command that takes a
 * token or password also takes it from a file (`--token-file`,
 * `--password-file`) or from the environment (`CLAWGATE_GATEWAY_TOKEN`,
 * `CLAWGATE_GATEWAY_PASSWORD`), neither of which other users can read.
 */
import * as fs from "node:fs"
import { Console, Effect, Option } from "effect"
import { UsageError } from "./errors.js"

/** A secret file holds one line; anything longer than this is not one. */
export const MAX_SECRET_FILE_BYTES = 4096

/** The secret in `file`: its first line, without surrounding whitespace. */
export const readSecretFile = (file: string, flag: string): Effect.Effect<string, UsageError> =>
  Effect.try({
    try: () => {
      const fd = fs.openSync(file, "r")
      try {
        const st = fs.fstatSync(fd)
        if (!st.isFile()) throw new Error("not a regular file")
        if (st.size > MAX_SECRET_FILE_BYTES)
          throw new Error(`it is ${st.size} bytes; a secret file holds one line (at most ${MAX_SECRET_FILE_BYTES} bytes)`)
        const buf = Buffer.alloc(st.size)
        fs.readSync(fd, buf, 0, st.size, 0)
        const secret = (buf.toString("utf8").split(/\r?\n/)[0] ?? "").trim()
        if (secret === "") throw new Error("it is empty")
        return { secret, loose: (st.mode & 0o077) !== 0 }
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (e) => new UsageError({ message: `${flag} ${file}: cannot use it: ${e instanceof Error ? e.message : String(e)}` })
  }).pipe(
    Effect.tap(({ loose }) =>
      loose ? Console.error(`warning: ${flag} ${file} can be read by other users: chmod 600 ${file}`) : Effect.void
    ),
    Effect.map(({ secret }) => secret)
  )

/**
 * `--X` or `--X-file`, at most one of them. With `warn` (a long-running
 * process: the Gateway, where the secret would sit in the process list for
 * as long as it runs) a secret given as `--X` itself says that other local
 * users can see it.
 */
export const secretFlag = (
  name: "token" | "password",
  value: Option.Option<string>,
  file: Option.Option<string>,
  warn = false
): Effect.Effect<string | undefined, UsageError> =>
  Effect.gen(function* () {
    if (Option.isSome(value) && Option.isSome(file)) {
      return yield* new UsageError({ message: `--${name} and --${name}-file both given: use one of them` })
    }
    if (Option.isSome(file)) return yield* readSecretFile(file.value, `--${name}-file`)
    if (Option.isSome(value)) {
      if (!warn) return value.value
      yield* Console.error(
        `warning: --${name} on the command line is visible to other local users (ps); prefer --${name}-file or CLAWGATE_GATEWAY_${name.toUpperCase()}`
      )
      return value.value
    }
    return undefined
  })

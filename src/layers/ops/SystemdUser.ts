/**
 * ServiceManager on Linux: a systemd user unit (`~/.config/systemd/user/clawgate-gateway.service`,
 * or under `$XDG_CONFIG_HOME`), driven with `systemctl --user`. Runs as the user, needs no root;
 * `loginctl enable-linger` makes it start at boot without a login.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import {
  type InstallResult,
  ServiceError,
  ServiceManager,
  type ServiceManagerService,
  type ServiceState
} from "../../services/ServiceManager.js"
import { atomicWriteFile } from "../../util/atomicWrite.js"
import { describeExit, runTool, type ToolError, type ToolResult } from "./runTool.js"
import { describeDifference, type ServiceSpec, specValues, systemdUnit, systemdUnitName, unwritable } from "./ServiceUnit.js"

export interface SystemdUserOptions {
  readonly spec: ServiceSpec
  /** Where user units live (`systemdUserDir(env)`). */
  readonly unitDir: string
  readonly systemctl?: string | undefined
  readonly loginctl?: string | undefined
  /** The login name, for `loginctl show-user` (default: os.userInfo()). */
  readonly user?: string | undefined
}

/** The largest unit file read back (ours is well under 2 KB). */
const MAX_UNIT_BYTES = 64 * 1024

/** `KEY=VALUE` lines of `systemctl show`, bounded. */
export const parseShow = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of text.split("\n").slice(0, 200)) {
    const eq = line.indexOf("=")
    if (eq > 0)
      out[line.slice(0, eq).trim()] = line
        .slice(eq + 1)
        .trim()
        .slice(0, 1024)
  }
  return out
}

const BUS_HINT =
  "is a systemd user manager running for this user? (`systemctl --user` needs a login session: log in on a console or over ssh, or run `loginctl enable-linger $USER`; in a container without systemd, run `clawgate gateway run` under the container's own supervisor)"

/** Reads a unit file, bounded; undefined when there is none. */
export const readUnitFile = (file: string): Effect.Effect<string | undefined, ServiceError> =>
  Effect.try({
    try: () => {
      let st: fs.Stats
      try {
        st = fs.lstatSync(file)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
        throw e
      }
      if (!st.isFile()) throw new Error("it is not a regular file")
      if (st.size > MAX_UNIT_BYTES) throw new Error(`it is larger than ${MAX_UNIT_BYTES} bytes`)
      return fs.readFileSync(file, "utf8")
    },
    catch: (e) => new ServiceError({ reason: "Io", message: `cannot read ${file}: ${(e as Error).message}` })
  })

export const writeUnitFile = (file: string, content: string) =>
  Effect.tryPromise({
    try: () => atomicWriteFile(file, content, 0o644),
    catch: (e) => new ServiceError({ reason: "Io", message: `cannot write ${file}: ${(e as Error).message}` })
  })

/** `install` without --force leaves a unit that is not the one it would write, and says what differs. */
export const refuseDifferent = (
  unitPath: string,
  existing: string | undefined,
  expected: string,
  force: boolean,
  what: "unit" | "agent"
) =>
  existing !== undefined && existing !== expected && !force
    ? Effect.fail(
        new ServiceError({
          reason: "Differs",
          message: [
            `${unitPath} exists and differs from the ${what} this clawgate would write:`,
            ...describeDifference(existing, expected).map((l) => `  ${l}`),
            "re-run with --force to replace it: clawgate gateway install --force"
          ].join("\n")
        })
      )
    : Effect.void

export const checkSpec = (spec: ServiceSpec): Effect.Effect<void, ServiceError> => {
  for (const [what, value] of specValues(spec)) {
    const why = unwritable(value)
    if (why)
      return Effect.fail(
        new ServiceError({ reason: "Spec", message: `${what} (${JSON.stringify(value)}) cannot go into a service file: ${why}` })
      )
  }
  return Effect.void
}

export const SystemdUser = (options: SystemdUserOptions): Layer.Layer<ServiceManager> =>
  Layer.sync(ServiceManager, () => {
    const name = systemdUnitName(options.spec.profile)
    const unitPath = path.join(options.unitDir, name)
    const expected = systemdUnit(options.spec)
    const systemctlBin = options.systemctl ?? "systemctl"
    const loginctlBin = options.loginctl ?? "loginctl"

    const toolError = (e: ToolError) =>
      new ServiceError({ reason: "Command", message: e.reason === "NotFound" ? `${e.message}: ${BUS_HINT}` : e.message })
    const failed = (r: ToolResult) =>
      new ServiceError({
        reason: "Command",
        message: /bus|XDG_RUNTIME_DIR|not been booted/i.test(r.stderr) ? `${describeExit(r)}; ${BUS_HINT}` : describeExit(r)
      })
    /** `systemctl --user args...`, failing unless it exits 0. */
    const systemctl = (...args: ReadonlyArray<string>) =>
      runTool(systemctlBin, ["--user", ...args]).pipe(
        Effect.mapError(toolError),
        Effect.flatMap((r) => (r.code === 0 ? Effect.succeed(r) : Effect.fail(failed(r))))
      )

    const requireInstalled = (verb: string) =>
      Effect.flatMap(readUnitFile(unitPath), (content) =>
        content === undefined
          ? Effect.fail(
              new ServiceError({
                reason: "NotInstalled",
                message: `no service is installed for ${options.spec.profile ? `the profile ${options.spec.profile}` : "the default profile"} (${unitPath} does not exist): \`gateway ${verb}\` needs it; install it with: clawgate ${options.spec.profile ? `--profile ${options.spec.profile} ` : ""}gateway install (or run the Gateway in the foreground: clawgate ${options.spec.profile ? `--profile ${options.spec.profile} ` : ""}gateway run)`
              })
            )
          : Effect.void
      )

    /** Linger: a hint to turn it on unless loginctl says it is on; never fails. */
    const lingerHint = Effect.gen(function* () {
      const user = options.user ?? safeUser()
      const hint = "to start it at boot without a login: loginctl enable-linger $USER"
      if (!user) return hint
      const r = yield* Effect.either(runTool(loginctlBin, ["show-user", user, "--property=Linger", "--value"], 5_000))
      if (r._tag === "Right" && r.right.code === 0 && /^\s*(yes|Linger=yes)\s*$/m.test(r.right.stdout)) {
        return `linger is on for ${user}: it starts at boot, without a login`
      }
      return hint
    })

    const service: ServiceManagerService = {
      manager: "systemd",
      name,
      unitPath,
      expected,
      install: ({ force }) =>
        Effect.gen(function* () {
          yield* checkSpec(options.spec)
          const existing = yield* readUnitFile(unitPath)
          yield* refuseDifferent(unitPath, existing, expected, force, "unit")
          const commands: Array<string> = []
          const run = (...args: ReadonlyArray<string>) => Effect.tap(systemctl(...args), (r) => Effect.sync(() => commands.push(r.command)))
          const changed = existing !== expected
          if (changed) yield* writeUnitFile(unitPath, expected)
          yield* run("daemon-reload")
          // A replaced unit applies at once to a running Gateway; then enable it and start it if it is not running.
          if (changed && existing !== undefined) yield* run("try-restart", name)
          yield* run("enable", "--now", name)
          const hints = [
            `unit: ${unitPath}`,
            `its log: journalctl --user -u ${name} -f (the Gateway also writes ${path.join(options.spec.stateDir, "logs", "gateway.log")})`,
            yield* lingerHint
          ]
          return { name, unitPath, file: changed ? "written" : "unchanged", commands, hints } satisfies InstallResult
        }),
      uninstall: Effect.gen(function* () {
        const existing = yield* readUnitFile(unitPath)
        if (existing === undefined) return { name, unitPath, removed: false }
        yield* systemctl("disable", "--now", name)
        yield* Effect.try({
          try: () => fs.rmSync(unitPath, { force: true }),
          catch: (e) => new ServiceError({ reason: "Io", message: `cannot remove ${unitPath}: ${(e as Error).message}` })
        })
        yield* systemctl("daemon-reload")
        return { name, unitPath, removed: true }
      }),
      start: Effect.zipRight(requireInstalled("start"), Effect.asVoid(systemctl("start", name))),
      stop: Effect.zipRight(requireInstalled("stop"), Effect.asVoid(systemctl("stop", name))),
      restart: Effect.zipRight(requireInstalled("restart"), Effect.asVoid(systemctl("restart", name))),
      status: Effect.gen(function* () {
        const content = yield* readUnitFile(unitPath)
        const base: ServiceState = {
          manager: "systemd",
          name,
          unitPath,
          installed: content !== undefined,
          ...(content !== undefined ? { current: content === expected } : {})
        }
        // Not installed: nothing to ask systemd (which may not even be running here).
        if (content === undefined) return base
        const shown = yield* Effect.either(
          systemctl("show", name, "-p", "LoadState,UnitFileState,ActiveState,SubState,MainPID,ExecMainStatus")
        )
        if (shown._tag === "Left") return { ...base, error: shown.left.message }
        const p = parseShow(shown.right.stdout)
        const num = (v: string | undefined) => (v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : undefined)
        const mainPid = num(p.MainPID)
        return {
          ...base,
          loadState: p.LoadState,
          enabled: p.UnitFileState || undefined,
          active: p.ActiveState,
          subState: p.SubState,
          mainPid: mainPid ? mainPid : undefined,
          execMainStatus: num(p.ExecMainStatus)
        } satisfies ServiceState
      })
    }
    return service
  })

const safeUser = (): string | undefined => {
  try {
    return os.userInfo().username
  } catch {
    return process.env.USER
  }
}

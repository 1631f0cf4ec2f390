/**
 * ServiceManager on macOS: a launchd agent (`~/Library/LaunchAgents/ai.clawgate.gateway.plist`),
 * loaded into the user's GUI domain with `launchctl bootstrap gui/$UID`, stopped with `bootout`,
 * restarted with `kickstart -k`, asked with `print`.
 *
 * launchd's KeepAlive cannot exempt one exit code: a Gateway that exits 78 (another Gateway holds
 * the state dir) is started again every ThrottleInterval and exits 78 again; the state dir's lock
 * is what keeps that second copy out.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import {
  type InstallResult,
  ServiceError,
  ServiceManager,
  type ServiceManagerService,
  type ServiceState
} from "../../services/ServiceManager.js"
import { describeExit, runTool, type ToolResult } from "./runTool.js"
import { launchdLabel, launchdLogPaths, launchdPlist, type ServiceSpec } from "./ServiceUnit.js"
import { checkSpec, readUnitFile, refuseDifferent, writeUnitFile } from "./SystemdUser.js"

export interface LaunchdAgentOptions {
  readonly spec: ServiceSpec
  /** `~/Library/LaunchAgents`. */
  readonly agentsDir: string
  readonly launchctl?: string | undefined
  /** The user's uid, for the `gui/<uid>` domain (default process.getuid()). */
  readonly uid?: number | undefined
}

/** `state = running`, `pid = 123`, `last exit code = 0` from `launchctl print`. */
export const parsePrint = (text: string): { state?: string; pid?: number; lastExit?: number } => {
  const head = text.slice(0, 64 * 1024)
  const state = /^\s*state = (\S+)/m.exec(head)?.[1]
  const pid = /^\s*pid = (\d{1,10})\s*$/m.exec(head)?.[1]
  const lastExit = /^\s*last exit code = (\d{1,10})/m.exec(head)?.[1]
  return {
    ...(state ? { state } : {}),
    ...(pid ? { pid: Number(pid) } : {}),
    ...(lastExit ? { lastExit: Number(lastExit) } : {})
  }
}

export const LaunchdAgent = (options: LaunchdAgentOptions): Layer.Layer<ServiceManager> =>
  Layer.sync(ServiceManager, () => {
    const label = launchdLabel(options.spec.profile)
    const unitPath = path.join(options.agentsDir, `${label}.plist`)
    const expected = launchdPlist(options.spec)
    const bin = options.launchctl ?? "launchctl"
    const domain = `gui/${options.uid ?? process.getuid?.() ?? 0}`
    const target = `${domain}/${label}`

    const launchctl = (...args: ReadonlyArray<string>) =>
      runTool(bin, args).pipe(Effect.mapError((e) => new ServiceError({ reason: "Command", message: e.message })))
    const ok = (r: ToolResult) =>
      r.code === 0 ? Effect.succeed(r) : Effect.fail(new ServiceError({ reason: "Command", message: describeExit(r) }))
    const loaded = Effect.map(launchctl("print", target), (r) => r.code === 0)
    const requireInstalled = (verb: string) =>
      Effect.flatMap(readUnitFile(unitPath), (content) =>
        content === undefined
          ? Effect.fail(
              new ServiceError({
                reason: "NotInstalled",
                message: `no launchd agent is installed (${unitPath} does not exist): \`gateway ${verb}\` needs it; install it with: clawgate ${options.spec.profile ? `--profile ${options.spec.profile} ` : ""}gateway install`
              })
            )
          : Effect.void
      )
    const bootstrap = Effect.gen(function* () {
      yield* Effect.flatMap(launchctl("enable", target), ok)
      yield* Effect.flatMap(launchctl("bootstrap", domain, unitPath), ok)
    })

    const service: ServiceManagerService = {
      manager: "launchd",
      name: label,
      unitPath,
      expected,
      install: ({ force }) =>
        Effect.gen(function* () {
          yield* checkSpec(options.spec)
          const existing = yield* readUnitFile(unitPath)
          yield* refuseDifferent(unitPath, existing, expected, force, "agent")
          const logs = launchdLogPaths(options.spec.stateDir)
          yield* Effect.try({
            try: () => fs.mkdirSync(path.dirname(logs.out), { recursive: true, mode: 0o700 }),
            catch: (e) => new ServiceError({ reason: "Io", message: `cannot create ${path.dirname(logs.out)}: ${(e as Error).message}` })
          })
          const changed = existing !== expected
          if (changed) yield* writeUnitFile(unitPath, expected)
          const commands: Array<string> = []
          const isLoaded = yield* loaded
          // launchd reads the plist at bootstrap: a changed one is booted out and in again.
          if (isLoaded && changed) {
            yield* Effect.flatMap(launchctl("bootout", target), ok)
            commands.push(`launchctl bootout ${target}`)
          }
          if (!isLoaded || changed) {
            yield* bootstrap
            commands.push(`launchctl enable ${target}`, `launchctl bootstrap ${domain} ${unitPath}`)
          }
          const hints = [
            `agent: ${unitPath}`,
            `its output: ${logs.out} and ${logs.err} (the Gateway also writes ${path.join(options.spec.stateDir, "logs", "gateway.log")})`,
            "it starts at login (RunAtLoad) and again after a crash (KeepAlive)"
          ]
          return { name: label, unitPath, file: changed ? "written" : "unchanged", commands, hints } satisfies InstallResult
        }),
      uninstall: Effect.gen(function* () {
        const existing = yield* readUnitFile(unitPath)
        if (existing === undefined) return { name: label, unitPath, removed: false }
        if (yield* loaded) yield* Effect.flatMap(launchctl("bootout", target), ok)
        yield* Effect.try({
          try: () => fs.rmSync(unitPath, { force: true }),
          catch: (e) => new ServiceError({ reason: "Io", message: `cannot remove ${unitPath}: ${(e as Error).message}` })
        })
        return { name: label, unitPath, removed: true }
      }),
      start: Effect.gen(function* () {
        yield* requireInstalled("start")
        if (!(yield* loaded)) yield* bootstrap
        yield* Effect.flatMap(launchctl("kickstart", target), ok)
      }),
      // A Gateway stopped with SIGTERM exits 0, which KeepAlive {SuccessfulExit: false} leaves stopped;
      // bootout unloads it so it stays stopped until `gateway start` or the next login.
      stop: Effect.gen(function* () {
        yield* requireInstalled("stop")
        if (yield* loaded) yield* Effect.flatMap(launchctl("bootout", target), ok)
      }),
      restart: Effect.gen(function* () {
        yield* requireInstalled("restart")
        if (!(yield* loaded)) yield* bootstrap
        yield* Effect.flatMap(launchctl("kickstart", "-k", target), ok)
      }),
      status: Effect.gen(function* () {
        const content = yield* readUnitFile(unitPath)
        const base: ServiceState = {
          manager: "launchd",
          name: label,
          unitPath,
          installed: content !== undefined,
          ...(content !== undefined ? { current: content === expected } : {})
        }
        const r = yield* Effect.either(launchctl("print", target))
        if (r._tag === "Left") return { ...base, error: r.left.message }
        if (r.right.code !== 0) return { ...base, loadState: "not loaded", active: "inactive" }
        const p = parsePrint(r.right.stdout)
        return {
          ...base,
          loadState: "loaded",
          enabled: "enabled",
          active: p.state === "running" ? "active" : "inactive",
          subState: p.state,
          mainPid: p.pid,
          execMainStatus: p.lastExit
        } satisfies ServiceState
      })
    }
    return service
  })

/**
 * The Gateway as a service. CI runs no systemd: the generated unit is checked with
 * `systemd-analyze verify --user`, and the commands run against a stand-in `systemctl` (and
 * `loginctl`) first on PATH that records its argv and answers `show` with canned properties.
 * `gateway stop` without a service stops a real `gateway run`.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs/promises"
import { existsSync, realpathSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import {
  expectedServiceFile,
  expectedServiceFileFor,
  launchdLabel,
  launchdPlist,
  packageEntrypoint,
  type ServiceSpec,
  serviceEnv,
  systemdQuote,
  systemdUnit,
  systemdUnitName,
  systemdUserDir,
  xmlEscape
} from "../../src/layers/ops/ServiceUnit.js"
import { GatewayHolderFile } from "../../src/layers/ops/GatewayHolderFile.js"
import { LaunchdAgent, parsePrint } from "../../src/layers/ops/LaunchdAgent.js"
import { GatewayHolder, ServiceManager } from "../../src/services/ServiceManager.js"
import { BIN, runCli, spawnGateway } from "../support/cli.js"
import { tempDir } from "../support/gateway.js"
import { gone } from "../support/process.js"

const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
const hasAnalyze = existsSync(SYSTEMD_ANALYZE)

/** `systemd-analyze verify --user` on `unit` saved as `name`: its exit code and what it said. */
const verify = (dir: string, name: string, unit: string) =>
  Effect.promise(async () => {
    const file = path.join(dir, name)
    await fs.writeFile(file, unit)
    // A user manager needs a runtime dir; in a container there is none, so give it one.
    const runtime = path.join(dir, "runtime")
    await fs.mkdir(runtime, { mode: 0o700, recursive: true })
    const r = spawnSync(SYSTEMD_ANALYZE, ["verify", "--user", file], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_RUNTIME_DIR: runtime },
      encoding: "utf8"
    })
    return { code: r.status, output: `${r.stdout}${r.stderr}` }
  })

const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  profile: undefined,
  execPath: realpathSync(process.execPath),
  entrypoint: realpathSync(BIN),
  stateDir: "/home/me/.clawgate",
  env: {},
  ...over
})

describe("the systemd unit", () => {
  it.scoped.skipIf(!hasAnalyze)("passes systemd-analyze verify, with awkward paths escaped (spaces, %, $, quotes)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const awkward = spec({
        profile: "work",
        entrypoint: '/opt/my apps/100%Z "claw" $HOME\\gate/bin/clawgate.mjs',
        env: serviceEnv("work", {})
      })
      const unit = systemdUnit(awkward)
      expect(unit).toContain('ExecStart="')
      expect(unit).toContain('"/opt/my apps/100%%Z \\"claw\\" $$HOME\\\\gate/bin/clawgate.mjs" gateway run')
      expect(unit).toContain('Environment="CLAWGATE_PROFILE=work"')
      expect(unit).toContain("Description=clawgate Gateway (profile work)")
      const checked = yield* verify(dir, systemdUnitName("work"), unit)
      expect(checked.output).toBe("")
      expect(checked.code).toBe(0)

      // The control: verify does see an unescaped specifier, so the clean run above means something.
      const raw = unit.replace("%%Z", "%Z")
      const bad = yield* verify(dir, "clawgate-gateway-bad.service", raw)
      expect(bad.output).toMatch(/specifier/i)
    })
  )

  it.scoped.skipIf(!hasAnalyze)("the unit for this checkout (carried state dir and config path) passes verify", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const s = spec({ env: serviceEnv(undefined, { CLAWGATE_STATE_DIR: "/srv/claw 1", CLAWGATE_CONFIG_PATH: "rel/c.json" }) })
      expect(s.env).toEqual({ CLAWGATE_STATE_DIR: "/srv/claw 1", CLAWGATE_CONFIG_PATH: path.resolve("rel/c.json") })
      const unit = expectedServiceFile(s, "linux")
      for (const line of [
        "Restart=on-failure",
        "RestartSec=5",
        "RestartPreventExitStatus=78",
        "TimeoutStopSec=30",
        "KillSignal=SIGTERM",
        "UMask=0077",
        "StandardOutput=journal",
        "StandardError=journal",
        "WantedBy=default.target",
        'Environment="CLAWGATE_STATE_DIR=/srv/claw 1"'
      ]) {
        expect(unit.split("\n")).toContain(line)
      }
      const checked = yield* verify(dir, systemdUnitName(undefined), unit)
      expect(checked.output).toBe("")
      expect(checked.code).toBe(0)
    })
  )

  it("names, directories and the entrypoint", () => {
    expect(systemdUnitName(undefined)).toBe("clawgate-gateway.service")
    expect(systemdUnitName("work")).toBe("clawgate-gateway-work.service")
    expect(launchdLabel(undefined)).toBe("ai.clawgate.gateway")
    expect(launchdLabel("work")).toBe("ai.clawgate.gateway.work")
    expect(systemdUserDir({}, "/home/me")).toBe("/home/me/.config/systemd/user")
    expect(systemdUserDir({ XDG_CONFIG_HOME: "/x/cfg" }, "/home/me")).toBe("/x/cfg/systemd/user")
    expect(systemdUserDir({ XDG_CONFIG_HOME: "relative" }, "/home/me")).toBe("/home/me/.config/systemd/user")
    // From a module of this checkout, the entrypoint is this checkout's bin/clawgate.mjs.
    expect(packageEntrypoint()).toBe(realpathSync(BIN))
    // A profile wins over the paths (as it does for the Gateway), so they are not carried beside it.
    expect(serviceEnv("work", { CLAWGATE_STATE_DIR: "/x" })).toEqual({ CLAWGATE_PROFILE: "work" })
    expect(systemdQuote("a$b%c", true)).toBe('"a$$b%%c"')
    // What the doctor compares an installed unit with: the unit `install` writes for the profile.
    const expected = expectedServiceFileFor("work", "/home/me/.clawgate-work", {}, "linux")
    expect("text" in expected && expected.text).toBe(
      systemdUnit(spec({ profile: "work", stateDir: "/home/me/.clawgate-work", env: { CLAWGATE_PROFILE: "work" } }))
    )
  })
})

describe("the launchd plist", () => {
  it("is well-formed, escapes XML, and keeps the Gateway alive only after a failure", () => {
    const s = spec({
      profile: "work",
      entrypoint: "/Apps/a&b <c> \"d\" 'e'/bin/clawgate.mjs",
      stateDir: "/Users/me/.clawgate-work",
      env: { CLAWGATE_PROFILE: "work" }
    })
    const plist = launchdPlist(s)
    expect(expectedServiceFile(s, "darwin")).toBe(plist)
    expect(plist).toContain(`<string>${xmlEscape(s.entrypoint)}</string>`)
    expect(plist).toContain("<string>/Apps/a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;/bin/clawgate.mjs</string>")
    expect(plist).toContain("<key>Label</key>\n  <string>ai.clawgate.gateway.work</string>")
    expect(plist).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/)
    expect(plist).toMatch(/<key>RunAtLoad<\/key>\s*<true\/>/)
    expect(plist).toMatch(/<key>ThrottleInterval<\/key>\s*<integer>5<\/integer>/)
    expect(plist).toContain("<string>/Users/me/.clawgate-work/logs/gateway.launchd.err.log</string>")
    // No raw markup characters inside any text node.
    for (const m of plist.matchAll(/<string>([\s\S]*?)<\/string>/g)) expect(m[1]).not.toMatch(/[<>"']|&(?!amp;|lt;|gt;|quot;|apos;)/)
    // Balanced elements.
    const stack: Array<string> = []
    for (const m of plist.replace(/<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->/g, "").matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
      if (m[3] === "/") continue
      if (m[1] === "/") expect(stack.pop()).toBe(m[2])
      else stack.push(m[2] as string)
    }
    expect(stack).toEqual([])
    // Where a plist parser is at hand, it reads back what was meant.
    const py = spawnSync("python3", ["-c", "import plistlib,sys,json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))"], {
      input: plist,
      encoding: "utf8"
    })
    if (py.status === 0) {
      const parsed = JSON.parse(py.stdout) as { ProgramArguments: Array<string>; EnvironmentVariables: Record<string, string> }
      expect(parsed.ProgramArguments).toEqual([s.execPath, s.entrypoint, "gateway", "run"])
      expect(parsed.EnvironmentVariables).toEqual({ CLAWGATE_PROFILE: "work" })
    }
  })
})

const STUB_LAUNCHCTL = `#!/bin/sh
echo "launchctl $*" >> "$0.log"
case "$1" in
  print) if [ -f "$0.loaded" ]; then printf '\tstate = running\n\tpid = 777\n\tlast exit code = 0\n'; else echo "Could not find service" >&2; exit 113; fi ;;
  bootstrap) touch "$0.loaded" ;;
  bootout) rm -f "$0.loaded" ;;
esac
exit 0
`

describe("the launchd agent (stand-in launchctl)", () => {
  it.scoped("install writes the plist and bootstraps it; status reads launchctl print; uninstall boots it out", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const launchctl = path.join(dir, "launchctl")
      yield* Effect.promise(() => fs.writeFile(launchctl, STUB_LAUNCHCTL, { mode: 0o755 }))
      const calls = () => Effect.promise(() => fs.readFile(`${launchctl}.log`, "utf8").then((t) => t.trim().split("\n")))
      const s = spec({ profile: "work", stateDir: path.join(dir, "state"), env: { CLAWGATE_PROFILE: "work" } })
      const layer = LaunchdAgent({ spec: s, agentsDir: path.join(dir, "LaunchAgents"), launchctl, uid: 501 })
      const m = yield* Effect.provide(ServiceManager, layer)
      const plistPath = path.join(dir, "LaunchAgents", "ai.clawgate.gateway.work.plist")
      expect(m.unitPath).toBe(plistPath)

      const r = yield* m.install({ force: false })
      expect(r.file).toBe("written")
      expect(yield* Effect.promise(() => fs.readFile(plistPath, "utf8"))).toBe(launchdPlist(s))
      expect(existsSync(path.join(dir, "state", "logs"))).toBe(true)
      expect(yield* calls()).toEqual([
        "launchctl print gui/501/ai.clawgate.gateway.work",
        "launchctl enable gui/501/ai.clawgate.gateway.work",
        `launchctl bootstrap gui/501 ${plistPath}`
      ])
      const st = yield* m.status
      expect(st).toMatchObject({ manager: "launchd", installed: true, current: true, active: "active", mainPid: 777, execMainStatus: 0 })

      yield* m.restart
      expect((yield* calls()).at(-1)).toBe("launchctl kickstart -k gui/501/ai.clawgate.gateway.work")
      const removed = yield* m.uninstall
      expect(removed.removed).toBe(true)
      expect(existsSync(plistPath)).toBe(false)
      expect((yield* calls()).at(-1)).toBe("launchctl bootout gui/501/ai.clawgate.gateway.work")
      expect(parsePrint("state = waiting\n")).toEqual({ state: "waiting" })
    })
  )
})

// ---------------------------------------------------------------------------
// The commands, against a stand-in systemctl

const STUB_SYSTEMCTL = `#!/bin/sh
echo "systemctl $*" >> "$STUB_LOG"
case "$*" in
  *" show "*) cat "$STUB_SHOW" ;;
esac
exit 0
`
const STUB_LOGINCTL = `#!/bin/sh
echo "loginctl $*" >> "$STUB_LOG"
case "$STUB_LINGER" in
  fail) echo "Failed to connect to bus: No such file or directory" >&2; exit 1 ;;
  yes) echo yes ;;
  *) echo no ;;
esac
`
const SHOW = "LoadState=loaded\nUnitFileState=enabled\nActiveState=active\nSubState=running\nMainPID=4242\nExecMainStatus=0\n"

/** A temp HOME with the stand-ins first on PATH; `calls()` is what they were asked. */
const stubs = Effect.gen(function* () {
  const home = yield* tempDir("clawgate-service-")
  const bin = path.join(home, "stub-bin")
  yield* Effect.promise(async () => {
    await fs.mkdir(bin)
    await fs.writeFile(path.join(bin, "systemctl"), STUB_SYSTEMCTL, { mode: 0o755 })
    await fs.writeFile(path.join(bin, "loginctl"), STUB_LOGINCTL, { mode: 0o755 })
    await fs.writeFile(path.join(home, "show.txt"), SHOW)
  })
  const log = path.join(home, "calls.log")
  const env = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    STUB_LOG: log,
    STUB_SHOW: path.join(home, "show.txt")
  }
  const calls = () =>
    Effect.promise(() =>
      fs.readFile(log, "utf8").then(
        (t) => t.trim().split("\n"),
        () => [] as Array<string>
      )
    )
  const reset = () => Effect.promise(() => fs.rm(log, { force: true }))
  const unitDir = path.join(home, ".config", "systemd", "user")
  const unit = (name = "clawgate-gateway.service") => Effect.promise(() => fs.readFile(path.join(unitDir, name), "utf8"))
  return { home, env, calls, reset, unitDir, unit }
})

describe("gateway install / uninstall / status (stand-in systemctl)", () => {
  it.scopedLive("install writes the unit (this checkout's entrypoint, no secret), reloads and enables it; uninstall removes it", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      const stateDir = path.join(s.home, "state dir")
      const secret = "tok-3c1d9f0e-never-in-a-unit"
      const r = yield* runCli(["gateway", "install"], { ...s.env, CLAWGATE_STATE_DIR: stateDir, CLAWGATE_GATEWAY_TOKEN: secret })
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      const unitPath = path.join(s.unitDir, "clawgate-gateway.service")
      expect(r.stdout).toContain(`unit: ${unitPath}`)
      expect(r.stdout).toContain("journalctl --user -u clawgate-gateway.service")
      expect(r.stdout).toContain("loginctl enable-linger $USER")
      expect(r.stdout).toMatch(
        /warning: CLAWGATE_GATEWAY_TOKEN is set in this shell but the service will not see it.*config set gateway\.auth\.token/
      )

      const unit = yield* s.unit()
      expect(unit).toContain(
        `ExecStart=${systemdQuote(realpathSync(process.execPath), true)} ${systemdQuote(realpathSync(BIN), true)} gateway run`
      )
      expect(unit).toContain("RestartPreventExitStatus=78")
      expect(unit).toContain(`Environment="CLAWGATE_STATE_DIR=${stateDir}"`)
      expect(unit).not.toContain(secret)
      expect(unit).not.toMatch(/TOKEN|PASSWORD|API_KEY/)
      expect((yield* Effect.promise(() => fs.stat(unitPath))).mode & 0o777).toBe(0o644)
      expect(yield* s.calls()).toEqual([
        "systemctl --user daemon-reload",
        "systemctl --user enable --now clawgate-gateway.service",
        expect.stringMatching(/^loginctl show-user \S+ --property=Linger --value$/)
      ])

      // Again, the same unit: nothing to refuse.
      const again = yield* runCli(["gateway", "install"], { ...s.env, CLAWGATE_STATE_DIR: stateDir })
      expect(again.code).toBe(0)
      expect(again.stdout).toContain("already installed clawgate-gateway.service")

      // A different unit (another state dir) is refused without --force, saying what differs.
      const other = path.join(s.home, "other")
      const refused = yield* runCli(["gateway", "install"], { ...s.env, CLAWGATE_STATE_DIR: other })
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain(`${unitPath} exists and differs`)
      expect(refused.stderr).toContain(`- Environment="CLAWGATE_STATE_DIR=${stateDir}"`)
      expect(refused.stderr).toContain(`+ Environment="CLAWGATE_STATE_DIR=${other}"`)
      expect(refused.stderr).toContain("--force")
      expect(yield* s.unit()).toBe(unit)

      yield* s.reset()
      const forced = yield* runCli(["gateway", "install", "--force"], { ...s.env, CLAWGATE_STATE_DIR: other })
      expect(forced.code).toBe(0)
      expect(yield* s.unit()).toContain(`Environment="CLAWGATE_STATE_DIR=${other}"`)
      expect(yield* s.calls()).toContain("systemctl --user try-restart clawgate-gateway.service")

      yield* s.reset()
      const removed = yield* runCli(["gateway", "uninstall"], s.env)
      expect(removed.code).toBe(0)
      expect(removed.stdout).toContain("removed clawgate-gateway.service")
      expect(existsSync(unitPath)).toBe(false)
      expect(yield* s.calls()).toEqual(["systemctl --user disable --now clawgate-gateway.service", "systemctl --user daemon-reload"])
    })
  )

  it.scopedLive("--profile work installs clawgate-gateway-work.service with the profile in its environment", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      // loginctl failing (no logind, as in a container) does not fail the install: the hint stays.
      const r = yield* runCli(["--profile", "work", "gateway", "install"], { ...s.env, STUB_LINGER: "fail" })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("loginctl enable-linger $USER")
      expect(r.stdout).toContain("installed clawgate-gateway-work.service (profile work)")
      const unit = yield* s.unit("clawgate-gateway-work.service")
      expect(unit).toContain('Environment="CLAWGATE_PROFILE=work"')
      expect(unit).toContain("Description=clawgate Gateway (profile work)")
      expect(yield* s.calls()).toContain("systemctl --user enable --now clawgate-gateway-work.service")
      expect(existsSync(path.join(s.unitDir, "clawgate-gateway.service"))).toBe(false)
    })
  )

  it.scopedLive("gateway status --json reports the service's state beside the probe", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      const installed = yield* runCli(["gateway", "install"], { ...s.env, STUB_LINGER: "yes" })
      expect(installed.code).toBe(0)
      expect(installed.stdout).toMatch(/linger is on for \S+: it starts at boot, without a login/)
      const r = yield* runCli(["gateway", "status", "--json", "--timeout", "2000"], { ...s.env, CLAWGATE_GATEWAY_PORT: "1" })
      expect(r.code).toBe(3)
      const report = JSON.parse(r.stdout)
      expect(report.reachable).toBe(false)
      expect(report.profile.name).toBe("default")
      expect(report.service).toEqual({
        manager: "systemd",
        name: "clawgate-gateway.service",
        unitPath: path.join(s.unitDir, "clawgate-gateway.service"),
        installed: true,
        current: true,
        loadState: "loaded",
        enabled: "enabled",
        active: "active",
        subState: "running",
        mainPid: 4242,
        execMainStatus: 0
      })
      expect(report.lock).toBeNull()
      expect(yield* s.calls()).toContain(
        "systemctl --user show clawgate-gateway.service -p LoadState,UnitFileState,ActiveState,SubState,MainPID,ExecMainStatus"
      )
      const human = yield* runCli(["gateway", "status", "--timeout", "2000"], { ...s.env, CLAWGATE_GATEWAY_PORT: "1" })
      expect(human.stdout).toContain("Service:   clawgate-gateway.service · enabled · active (running) · pid 4242")
      expect(human.stdout).toContain("Lock:      free")

      // With a running service, `gateway stop` goes through it.
      yield* s.reset()
      const stop = yield* runCli(["gateway", "stop"], s.env)
      expect(stop.code).toBe(0)
      expect(stop.stdout).toContain("stopped clawgate-gateway.service (pid 4242)")
      expect(yield* s.calls()).toContain("systemctl --user stop clawgate-gateway.service")
    })
  )

  it.scopedLive("gateway restart without a service says what it needs", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      const r = yield* runCli(["gateway", "restart"], s.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain("`gateway restart` needs the Gateway installed as a service (clawgate gateway install)")
      expect(r.stderr).toContain("clawgate gateway stop")
      expect(yield* s.calls()).toEqual([])
    })
  )
})

describe("gateway stop without a service", () => {
  it.scopedLive("stops a running `gateway run` gracefully and reports it; then says no Gateway is running", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      const stateDir = path.join(s.home, "state")
      const env = { ...s.env, CLAWGATE_STATE_DIR: stateDir }
      const gw = yield* spawnGateway(["--port", "0"], env)
      const pid = gw.child.pid as number

      const status = yield* runCli(["gateway", "status", "--json"], { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })
      const report = JSON.parse(status.stdout)
      expect(report.reachable).toBe(true)
      expect(report.lock).toMatchObject({ pid, url: gw.url, fresh: true })
      expect(report.service.installed).toBe(false)

      const stop = yield* runCli(["gateway", "stop"], env)
      expect(stop.stderr).toBe("")
      expect(stop.code).toBe(0)
      expect(stop.stdout.trim()).toBe(`stopped pid ${pid} (${gw.url})`)
      expect(yield* gone(pid)).toBe(true)
      expect(gw.child.exitCode).toBe(0)
      expect(existsSync(path.join(stateDir, "gateway.lock.json"))).toBe(false)
      expect(existsSync(path.join(stateDir, "gateway.lock"))).toBe(false)

      const again = yield* runCli(["gateway", "stop"], env)
      expect(again.code).toBe(3)
      expect(again.stderr).toContain(`no Gateway is running on ${stateDir}`)
      // No unit: systemd was never asked.
      expect(yield* s.calls()).toEqual([])
    })
  )

  it.scopedLive("never signals a pid that does not hold a fresh lock (a reused pid)", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      const stateDir = path.join(s.home, "state")
      // A live process that is not a Gateway, named by a lock nobody has refreshed for a minute.
      const bystander = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" })),
        (c) => Effect.sync(() => void c.kill("SIGKILL"))
      )
      yield* Effect.promise(async () => {
        await fs.mkdir(path.join(stateDir, "gateway.lock"), { recursive: true })
        const owner = { pid: bystander.pid, stateDir, startedAt: "2026-01-01T00:00:00.000Z", url: "ws://127.0.0.1:1" }
        await fs.writeFile(path.join(stateDir, "gateway.lock.json"), JSON.stringify(owner), { mode: 0o600 })
        const old = new Date(Date.now() - 60_000)
        await fs.utimes(path.join(stateDir, "gateway.lock"), old, old)
      })
      const r = yield* runCli(["gateway", "stop"], { ...s.env, CLAWGATE_STATE_DIR: stateDir })
      expect(r.code).toBe(3)
      expect(r.stderr).toContain(`no Gateway is running on ${stateDir}`)
      expect(r.stderr).toMatch(
        new RegExp(`names pid ${bystander.pid}, but its lock has not been refreshed for \\d+ s: nothing was signalled`)
      )
      expect(bystander.exitCode).toBeNull()
      expect(bystander.signalCode).toBeNull()
    })
  )

  it.scoped("waits on the Clock for a holder that ignores SIGTERM, and says it did not exit (no SIGKILL without --force)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const h = yield* stubbornHolder(dir)
      const fiber = yield* Effect.fork(
        Effect.flatMap(GatewayHolder, (g) => g.stop({ timeoutMs: 30_000, force: false })).pipe(Effect.provide(GatewayHolderFile(dir)))
      )
      yield* h.saw("term")
      yield* TestClock.adjust("31 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(String(exit.cause)).toMatch(/did not exit within 30 s of SIGTERM.*gateway stop --force/)
      expect(h.child.exitCode).toBeNull()
      expect(h.child.signalCode).toBeNull()
    })
  )

  it.scopedLive("--force SIGKILLs a holder that did not exit after SIGTERM", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const h = yield* stubbornHolder(dir)
      const r = yield* Effect.flatMap(GatewayHolder, (g) => g.stop({ timeoutMs: 300, force: true })).pipe(
        Effect.provide(GatewayHolderFile(dir))
      )
      expect(r).toMatchObject({ pid: h.child.pid, killed: true })
      expect(yield* Effect.promise(() => h.exited)).toBe("SIGKILL")
      expect(h.out()).toContain("term")
    })
  )
})

/** A live process that ignores SIGTERM (printing "term"), named by a fresh lock in `dir`. */
const stubbornHolder = (dir: string) =>
  Effect.gen(function* () {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          process.execPath,
          ["-e", "process.on('SIGTERM', () => console.log('term')); setInterval(() => {}, 1000); console.log('ready')"],
          {
            stdio: ["ignore", "pipe", "ignore"]
          }
        )
      ),
      (c) => Effect.sync(() => void c.kill("SIGKILL"))
    )
    let out = ""
    const waiters = new Set<() => void>()
    child.stdout?.on("data", (d) => {
      out += d
      for (const w of waiters) w()
    })
    const exited = new Promise<string | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)))
    const saw = (text: string) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            const check = () => (out.includes(text) ? resolve() : undefined)
            waiters.add(check)
            check()
          })
      )
    // Its handler is installed once it has said so.
    yield* saw("ready")
    yield* Effect.promise(async () => {
      await fs.mkdir(path.join(dir, "gateway.lock"))
      await fs.writeFile(path.join(dir, "gateway.lock.json"), JSON.stringify({ pid: child.pid, stateDir: dir, startedAt: "now" }))
    })
    return { child, saw, exited, out: () => out }
  })

describe("doctor and the service unit (stand-in systemctl)", () => {
  it.scopedLive("an installed unit that starts this clawgate is ok; one left by a moved checkout is a warning naming install --force", () =>
    Effect.gen(function* () {
      const s = yield* stubs
      const installed = yield* runCli(["--profile", "work", "gateway", "install"], s.env)
      expect(installed.code).toBe(0)
      const report = (r: { stdout: string }) => JSON.parse(r.stdout) as { findings: Array<{ id: string; severity: string; fix: string }> }
      const fine = report(yield* runCli(["--profile", "work", "doctor", "--json"], s.env))
      expect(fine.findings.filter((x) => x.id.startsWith("service."))).toEqual([
        expect.objectContaining({ id: "service.current", severity: "ok" })
      ])

      // As after the checkout moved: the unit still points at the old entrypoint.
      const file = path.join(s.unitDir, "clawgate-gateway-work.service")
      const unit = yield* s.unit("clawgate-gateway-work.service")
      yield* Effect.promise(() => fs.writeFile(file, unit.replace(/bin\/clawgate\.mjs/, "old/bin/clawgate.mjs")))
      const stale = report(yield* runCli(["--profile", "work", "doctor", "--json"], s.env))
      expect(stale.findings.find((x) => x.id === "service.stale")).toMatchObject({
        severity: "warn",
        fix: "clawgate --profile work gateway install --force"
      })
    })
  )
})

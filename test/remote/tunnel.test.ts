/**
 * SSH tunnels with the real `ssh` client against a real OpenSSH server on
 * loopback: the forward comes up on a free port, survives ssh being killed,
 * is reused by remote commands, and stops cleanly.
 */
import { spawn } from "node:child_process"
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Fiber, Schedule, TestClock } from "effect"
import { BIN, runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"
import { sshdAvailable, startSshd } from "../support/sshd.js"
import { restartSchedule, type SshDown } from "../../src/layers/SshTunnelSystem.js"
import { gone } from "../support/process.js"

const TOKEN = "tunnel-token-0123456789abc"

const spawnTunnel = (args: Array<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const clean: Record<string, string> = {}
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CLAWGATE_")) clean[k] = v
      const child = spawn(process.execPath, [BIN, "tunnel", ...args], { env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      child.stdout!.on("data", (d) => (out += d))
      child.stderr!.on("data", (d) => (out += d))
      const waitFor = async (re: RegExp, timeoutMs = 20_000) => {
        const deadline = Date.now() + timeoutMs
        for (;;) {
          const m = re.exec(out)
          if (m) return m
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`tunnel: no ${re} in:\n${out}`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      return { child, waitFor, output: () => out }
    }),
    (t) => Effect.sync(() => void (t.child.exitCode === null && t.child.kill("SIGKILL")))
  )

describe("ssh restart backoff (TestClock)", () => {
  const failed: SshDown = { why: "ssh exited (255): Connection refused", upForMillis: 0 }
  const delays = (inputs: ReadonlyArray<SshDown>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Schedule.run(restartSchedule(), now, inputs)).pipe(
      Effect.map((out) => Chunk.toArray(out).map(([delay]) => Duration.toSeconds(delay)))
    )

  it.effect("1 s, doubling to 30 s while ssh cannot start or dies at once; back to 1 s after it stayed up more than 30 s", () =>
    Effect.gen(function* () {
      expect(yield* delays(Array.from({ length: 7 }, () => failed))).toEqual([1, 2, 4, 8, 16, 30, 30])
      const lasted = (ms: number): SshDown => ({ why: "ssh exited (255): Broken pipe", upForMillis: ms })
      expect(yield* delays([failed, failed, failed, lasted(30_001), failed])).toEqual([1, 2, 4, 1, 2])
      expect(yield* delays([failed, failed, failed, lasted(30_000), failed])).toEqual([1, 2, 4, 8, 16])
    })
  )

  it.effect("the restarts happen at those times on the Clock", () =>
    Effect.gen(function* () {
      const attempts: Array<number> = []
      const attempt = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        attempts.push(now / 1000)
        return Effect.fail(failed)
      })
      const fiber = yield* Effect.fork(Effect.retry(attempt, restartSchedule()))
      yield* TestClock.adjust("120 seconds")
      expect(attempts).toEqual([0, 1, 3, 7, 15, 31, 61, 91])
      yield* Fiber.interrupt(fiber)
    })
  )
})

describe.skipIf(!sshdAvailable)("ssh tunnels (needs /usr/sbin/sshd; .ci/run installs openssh-server)", () => {
  it.scopedLive("clawgate tunnel: a free port when the preferred one is taken, restarts after ssh dies, stops cleanly", () =>
    Effect.gen(function* () {
      const gwDir = yield* tempDir()
      yield* writeConfig(gwDir, { gateway: { auth: { token: TOKEN } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: gwDir })
      const sshd = yield* startSshd
      const taken = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer()
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => void s.close())
      )
      const takenPort = (taken.address() as net.AddressInfo).port
      const dir = yield* tempDir()
      const tunnel = yield* spawnTunnel(
        [sshd.target, "--remote-port", String(gw.port), "--local-port", String(takenPort), "--ssh-config", sshd.sshConfig],
        { CLAWGATE_STATE_DIR: dir }
      )
      const up = yield* Effect.promise(() => tunnel.waitFor(/tunnel up: ws:\/\/127\.0\.0\.1:(\d+)/))
      const localPort = Number(up[1])
      expect(localPort).not.toBe(takenPort)
      const via = `ws://127.0.0.1:${localPort}`
      const health = yield* runCli(["health", "--url", via, "--token", TOKEN, "--json"], { CLAWGATE_STATE_DIR: dir })
      expect(JSON.parse(health.stdout).health.ok).toBe(true)

      // ssh dies (laptop sleep, network change): the tunnel brings it back on the same port.
      const sshPid = Number((yield* Effect.promise(() => tunnel.waitFor(/ssh pid (\d+)/)))[1])
      process.kill(sshPid, "SIGKILL")
      yield* Effect.promise(() => tunnel.waitFor(/restored \(ssh pid (\d+)\)/))
      const again = yield* runCli(["health", "--url", via, "--token", TOKEN, "--json"], { CLAWGATE_STATE_DIR: dir })
      expect(JSON.parse(again.stdout).health.ok).toBe(true)

      // Remote mode over ssh reuses the running tunnel, and status --deep says so.
      const set = yield* runCli(
        [
          "config",
          "set",
          "gateway.mode",
          "remote",
          "gateway.remote.transport",
          "ssh",
          "gateway.remote.sshTarget",
          sshd.target,
          "gateway.remote.sshConfig",
          sshd.sshConfig,
          "gateway.remote.remotePort",
          String(gw.port),
          "gateway.remote.token",
          TOKEN
        ],
        { CLAWGATE_STATE_DIR: dir }
      )
      expect(set.code).toBe(0)
      const reused = yield* runCli(["status", "--deep", "--json"], { CLAWGATE_STATE_DIR: dir })
      const report = JSON.parse(reused.stdout)
      expect(report.reachable).toBe(true)
      expect(report.target.urlSource).toContain(`ssh tunnel to ${sshd.target}`)
      expect(report.target.urlSource).toContain(`reusing the tunnel of clawgate tunnel pid ${tunnel.child.pid}`)

      // Stop: SIGTERM ends the tunnel and its ssh child.
      const restoredPid = Number(/restored \(ssh pid (\d+)\)/.exec(tunnel.output())![1])
      tunnel.child.kill("SIGTERM")
      yield* Effect.promise(() => new Promise((r) => tunnel.child.once("exit", r)))
      expect(yield* gone(restoredPid)).toBe(true)

      // Without a running tunnel, a remote command opens its own for its duration.
      const own = yield* runCli(["status", "--deep", "--json"], { CLAWGATE_STATE_DIR: dir })
      const ownReport = JSON.parse(own.stdout)
      expect(ownReport.reachable).toBe(true)
      expect(ownReport.target.urlSource).toContain("opened for this command")
    })
  )

  it.scopedLive("targets that ssh would read as options are refused", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const res = yield* runCli(["tunnel", "-oProxyCommand=touch /tmp/pwned"], { CLAWGATE_STATE_DIR: dir })
      expect(res.code).not.toBe(0)
      expect(res.stdout + res.stderr).toMatch(/may not start with "-"|is not an ssh target|oProxyCommand/)
    })
  )
})

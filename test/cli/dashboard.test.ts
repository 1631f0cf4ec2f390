/**
 * `clawgate dashboard` end to end: the built CLI against a real Gateway
 * process on port 0, and a raw WebSocket client with a fresh Ed25519 device
 * standing in for the browser that opens the link. The code in the link
 * pairs that device once; the same code is refused after. --json, --open
 * with a stand-in opener, and --ssh through the real sshd of the tunnel tests.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnCli, spawnGateway } from "../support/cli.js"
import { deviceHandshake, makeTestDevice } from "../support/device.js"
import { tempDir, writeConfig } from "../support/gateway.js"
import { gone } from "../support/process.js"
import { sshdAvailable, startSshd } from "../support/sshd.js"
import { handshake, connectParams } from "../support/ws.js"

const TOKEN = "dashboard-token-0123456789abc"
const LINK = /http:\/\/127\.0\.0\.1:(\d+)\/#bootstrapToken=([A-Za-z0-9_-]{43})/

/** What the Control UI sends with the code from its link: no shared secret, a signed device. */
const browserConnect = (code: string, scopes: ReadonlyArray<string>) => ({
  minProtocol: 4,
  maxProtocol: 4,
  client: { id: "clawgate-control-ui", version: "1.0.0", platform: "web", mode: "webchat" },
  role: "operator",
  scopes,
  caps: [],
  auth: { bootstrapToken: code }
})

/** A Gateway process with a known token, on a free port. */
const gateway = Effect.gen(function* () {
  const dir = yield* tempDir()
  yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
  const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
  return { dir, gw }
})

describe("clawgate dashboard", () => {
  it.scopedLive("--url/--token prints a link whose code pairs one browser, once, with the scopes asked for", () =>
    Effect.gen(function* () {
      const { gw } = yield* gateway
      const cliDir = yield* tempDir()
      // An operator watching pairing events, as the Devices page would.
      const watcher = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] }))
      expect(watcher.res.ok).toBe(true)

      const res = yield* runCli(["dashboard", "--url", gw.url, "--token", TOKEN, "--scopes", "operator.read,operator.write"], {
        CLAWGATE_STATE_DIR: cliDir
      })
      expect(res.code).toBe(0)
      const m = LINK.exec(res.stdout)
      expect(m, res.stdout + res.stderr).not.toBeNull()
      const [url, port, code] = m!
      expect(Number(port)).toBe(gw.port)
      expect(res.stdout).toContain("It works once")
      expect(res.stdout).toContain("grants operator.read, operator.write")
      expect(res.stdout).toContain(`where this CLI reached the Gateway: ${gw.url} (--url)`)
      // The credential is in the fragment, which a browser never sends; nothing in a query, where it is refused.
      expect(new URL(url!).search).toBe("")
      const inQuery = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/?bootstrapToken=${code}`))
      expect(inQuery.status).toBe(400)

      const browser = makeTestDevice()
      const first = yield* deviceHandshake(gw.url, browser, browserConnect(code!, ["operator.admin", "operator.read", "operator.write"]))
      expect(first.res.ok, JSON.stringify(first.res.error)).toBe(true)
      const auth = first.res.payload.auth
      expect(auth).toMatchObject({ method: "bootstrap-token", role: "operator", scopes: ["operator.read", "operator.write"] })
      expect(typeof auth.deviceToken).toBe("string")
      const resolved = yield* Effect.promise(() => watcher.peer.waitFor((f) => f.event === "device.pair.resolved"))
      expect(resolved.payload).toMatchObject({ deviceId: browser.deviceId, decision: "approved" })

      // The same code again, from another browser: refused, closed, and told what to do.
      const again = yield* deviceHandshake(gw.url, makeTestDevice(), browserConnect(code!, ["operator.read"]))
      expect(again.res.ok).toBe(false)
      expect(again.res.error).toMatchObject({ code: "INVALID_REQUEST", details: { code: "AUTH_BOOTSTRAP_TOKEN_INVALID" } })
      expect(again.res.error!.message).toContain("run `clawgate dashboard` again")
      expect((yield* Effect.promise(() => again.peer.closed)).code).toBe(1008)

      // The browser comes back with its device token.
      const back = yield* deviceHandshake(gw.url, browser, {
        ...browserConnect(code!, ["operator.read", "operator.write"]),
        auth: { deviceToken: auth.deviceToken }
      })
      expect(back.res.payload?.auth).toMatchObject({ method: "device-token", scopes: ["operator.read", "operator.write"] })
      // Who asked is logged; the code never is.
      expect(gw.output()).toContain("issued a dashboard code")
      expect(gw.output()).not.toContain(code)
    })
  )

  it.scopedLive("--json prints {url, expiresAtMs}; locally and in remote mode the CLI finds the Gateway by itself", () =>
    Effect.gen(function* () {
      const { dir, gw } = yield* gateway
      const before = Date.now()
      // Locally: the port from the environment, the token from the Gateway's own config.
      const local = yield* runCli(["dashboard", "--json"], { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(gw.port) })
      expect(local.code, local.stderr).toBe(0)
      const printed = JSON.parse(local.stdout)
      expect(Object.keys(printed).sort()).toEqual(["expiresAtMs", "url"])
      expect(printed.url).toMatch(LINK)
      expect(printed.expiresAtMs).toBeGreaterThanOrEqual(before + 600_000)
      expect(printed.expiresAtMs).toBeLessThanOrEqual(Date.now() + 600_000)
      const code = LINK.exec(printed.url)![2]!
      // Without --scopes the browser may do what the CLI could: everything, on the Gateway's own host.
      const browser = yield* deviceHandshake(gw.url, makeTestDevice(), browserConnect(code, ["operator.admin", "operator.pairing"]))
      expect(browser.res.payload?.auth.scopes).toEqual(["operator.admin", "operator.pairing"])

      const remoteDir = yield* tempDir()
      yield* writeConfig(remoteDir, { gateway: { mode: "remote", remote: { url: gw.url, token: TOKEN } } })
      const remote = yield* runCli(["dashboard", "--json"], { CLAWGATE_STATE_DIR: remoteDir })
      expect(remote.code, remote.stderr).toBe(0)
      expect(JSON.parse(remote.stdout).url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${gw.port}/#bootstrapToken=`))

      // A wrong token: the Gateway's refusal, exit 4, and no link.
      const wrong = yield* runCli(["dashboard", "--url", gw.url, "--token", "wrong"], { CLAWGATE_STATE_DIR: remoteDir })
      expect(wrong.code).toBe(4)
      expect(wrong.stdout).not.toMatch(LINK)
      const bad = yield* runCli(["dashboard", "--url", gw.url, "--token", TOKEN, "--scopes", "operator.root"], {
        CLAWGATE_STATE_DIR: remoteDir
      })
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("--scopes takes a comma-separated list")
    })
  )

  it.scopedLive("--open hands exactly the link to xdg-open; without an opener it says so and still exits 0", () =>
    Effect.gen(function* () {
      const { gw } = yield* gateway
      const bin = yield* tempDir()
      const received = path.join(bin, "opened.txt")
      yield* Effect.promise(async () => {
        await fs.writeFile(path.join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s' "$1" > '${received}'\n`, { mode: 0o755 })
      })
      const res = yield* runCli(["dashboard", "--url", gw.url, "--token", TOKEN, "--open"], { CLAWGATE_STATE_DIR: bin, PATH: bin })
      expect(res.code, res.stderr).toBe(0)
      const link = LINK.exec(res.stdout)![0]
      expect(yield* Effect.promise(() => fs.readFile(received, "utf8"))).toBe(link)
      expect(res.stderr).toContain("opened the link with xdg-open")

      const empty = yield* tempDir()
      const none = yield* runCli(["dashboard", "--url", gw.url, "--token", TOKEN, "--open"], { CLAWGATE_STATE_DIR: empty, PATH: empty })
      expect(none.code).toBe(0)
      expect(none.stdout).toMatch(LINK)
      expect(none.stderr).toContain("did not open a browser: xdg-open was not found")
    })
  )
})

describe.skipIf(!sshdAvailable)("clawgate dashboard --ssh (needs /usr/sbin/sshd; .ci/run installs openssh-server)", () => {
  it.scopedLive("a link on the tunnel's local port whose code works through the tunnel, which stays up until Ctrl-C", () =>
    Effect.gen(function* () {
      const { gw } = yield* gateway
      const sshd = yield* startSshd
      const cliDir = yield* tempDir()
      const dash = yield* spawnCli(
        ["dashboard", "--ssh", sshd.target, "--ssh-config", sshd.sshConfig, "--remote-port", String(gw.port), "--token", TOKEN],
        { CLAWGATE_STATE_DIR: cliDir }
      )
      const [, port, code] = yield* Effect.promise(() => dash.waitFor(LINK))
      const localPort = Number(port)
      expect(localPort).not.toBe(gw.port)
      expect(dash.stdout()).toContain(`SSH tunnel's local end (127.0.0.1:${localPort} → ${sshd.target}, Gateway port ${gw.port})`)
      const sshPid = Number((yield* Effect.promise(() => dash.waitFor(/ssh pid (\d+)/)))[1])

      // The browser on this machine opens the link: through the tunnel, to the remote Gateway.
      const browser = yield* deviceHandshake(`ws://127.0.0.1:${localPort}`, makeTestDevice(), browserConnect(code!, ["operator.admin"]))
      expect(browser.res.ok, JSON.stringify(browser.res.error)).toBe(true)
      expect(browser.res.payload.auth).toMatchObject({ method: "bootstrap-token", scopes: ["operator.admin"] })
      browser.peer.ws.close()

      // Still running, tunnel up: ssh killed is brought back on the same port.
      process.kill(sshPid, "SIGKILL")
      yield* Effect.promise(() => dash.waitFor(/restored \(ssh pid (\d+)\)/))
      const restoredPid = Number(/restored \(ssh pid (\d+)\)/.exec(dash.output())![1])
      const health = yield* runCli(["health", "--url", `ws://127.0.0.1:${localPort}`, "--token", TOKEN, "--json"], {
        CLAWGATE_STATE_DIR: cliDir
      })
      expect(JSON.parse(health.stdout).health.ok).toBe(true)

      // Ctrl-C: the command ends and so does its ssh.
      dash.child.kill("SIGINT")
      const exit = yield* Effect.promise(() => dash.exited)
      expect(yield* gone(restoredPid)).toBe(true)
      // The stop the user asked for: exit 0, as `clawgate tunnel` does.
      expect(exit, dash.output()).toBe(0)

      // Remote mode over ssh with no `clawgate tunnel` running: the same, with gateway.remote.sshTarget.
      yield* writeConfig(cliDir, {
        gateway: {
          mode: "remote",
          remote: { transport: "ssh", sshTarget: sshd.target, sshConfig: sshd.sshConfig, remotePort: gw.port, token: TOKEN }
        }
      })
      const viaConfig = yield* spawnCli(["dashboard"], { CLAWGATE_STATE_DIR: cliDir })
      const [, configPort, configCode] = yield* Effect.promise(() => viaConfig.waitFor(LINK))
      expect(viaConfig.stdout()).toContain("Ctrl-C closes the tunnel")
      const second = yield* deviceHandshake(
        `ws://127.0.0.1:${configPort}`,
        makeTestDevice(),
        browserConnect(configCode!, ["operator.read"])
      )
      expect(second.res.payload?.auth).toMatchObject({ method: "bootstrap-token", scopes: ["operator.read"] })
      viaConfig.child.kill("SIGINT")
      yield* Effect.promise(() => viaConfig.exited)

      // With a `clawgate tunnel` running, the link goes through it and the command exits.
      const tunnel = yield* spawnCli(["tunnel", sshd.target, "--remote-port", String(gw.port), "--ssh-config", sshd.sshConfig], {
        CLAWGATE_STATE_DIR: cliDir
      })
      const tunnelPort = (yield* Effect.promise(() => tunnel.waitFor(/tunnel up: ws:\/\/127\.0\.0\.1:(\d+)/)))[1]
      const reusing = yield* runCli(["dashboard"], { CLAWGATE_STATE_DIR: cliDir })
      expect(reusing.code, reusing.stderr).toBe(0)
      expect(LINK.exec(reusing.stdout)?.[1]).toBe(tunnelPort)
      expect(reusing.stdout).toContain(`through the tunnel of clawgate tunnel pid ${tunnel.child.pid}`)
      // Ctrl-C ends the tunnel and its ssh (a SIGKILL at the scope's end would leave ssh running, orphaned).
      tunnel.child.kill("SIGINT")
      expect(yield* Effect.promise(() => tunnel.exited)).toBe(0)
    })
  )
})

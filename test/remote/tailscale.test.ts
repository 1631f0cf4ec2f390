/**
 * Tailscale Serve and Funnel, and Tailscale identity on the WebSocket. The
 * `tailscale` executable is a stand-in script that records every call and
 * answers `whois` from a table, so every rule (and every way around it) is
 * tested without a tailnet.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Either, Exit, Fiber, FiberId, Layer, Option, Queue, type Scope, TestClock } from "effect"
import { resolveClientAddress, tailscaleClaim } from "../../src/config/clientAddress.js"
import { AuthLive } from "../../src/layers/AuthLive.js"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { makeWhoisCache, TailscaleCli, type TailscaleCliOptions } from "../../src/layers/TailscaleCli.js"
import { TailscaleTest } from "../../src/layers/TailscaleTest.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { Auth } from "../../src/services/Auth.js"
import { GatewayLog } from "../../src/services/GatewayLog.js"
import { Tailscale, TailscaleError } from "../../src/services/Tailscale.js"
import { runCli, spawnGateway } from "../support/cli.js"
import { makeTestDevice, deviceHandshake } from "../support/device.js"
import { startGateway, tempDir, TOKEN, writeConfig } from "../support/gateway.js"
import { connectParams, handshake } from "../support/ws.js"
import { gone } from "../support/process.js"

// ---------------------------------------------------------------------------------------------
// The stand-in `tailscale`

interface StandInSettings {
  /** whois answers: address → login (null: a node with no user). Others: "no match". */
  readonly logins?: Record<string, string | null>
  readonly whoisDelayMs?: number
  /** serve/funnel/reset fail with this on stderr. */
  readonly fail?: string
}

const STAND_IN = (execPath: string) => `#!${execPath}
const fs = require("node:fs")
const path = require("node:path")
const dir = path.dirname(process.argv[1])
const args = process.argv.slice(2)
fs.appendFileSync(path.join(dir, "calls.log"), args.join(" ") + "\\n")
let settings = {}
try { settings = JSON.parse(fs.readFileSync(path.join(dir, "settings.json"), "utf8")) } catch {}
if (args[0] === "whois") {
  fs.writeFileSync(path.join(dir, "whois.pid"), String(process.pid))
  const ip = args[args.length - 1]
  setTimeout(() => {
    const logins = settings.logins || {}
    if (!(ip in logins)) {
      process.stderr.write("no match for IP: " + ip + "\\n")
      process.exit(1)
    }
    const login = logins[ip]
    process.stdout.write(JSON.stringify({
      Node: { Name: "peer.tailnet.ts.net.", Addresses: [ip + "/32"] },
      UserProfile: login === null ? undefined : { LoginName: login, DisplayName: "Someone" }
    }, null, 2))
  }, settings.whoisDelayMs || 0)
} else if (settings.fail) {
  process.stderr.write(settings.fail + "\\n")
  process.exit(1)
} else {
  process.stdout.write("Available within your tailnet:\\n\\nhttps://gw.tailnet.ts.net/\\n")
}
`

interface StandIn {
  readonly dir: string
  readonly executable: string
  readonly calls: Effect.Effect<Array<string>>
  readonly set: (settings: StandInSettings) => Effect.Effect<void>
}

const standIn = (settings: StandInSettings = {}): Effect.Effect<StandIn, never, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* tempDir("clawgate-tailscale-")
    const executable = path.join(dir, "tailscale")
    yield* Effect.promise(() => fs.writeFile(executable, STAND_IN(process.execPath), { mode: 0o755 }))
    const set = (s: StandInSettings) => Effect.promise(() => fs.writeFile(path.join(dir, "settings.json"), JSON.stringify(s)))
    yield* set(settings)
    const calls = Effect.promise(() =>
      fs.readFile(path.join(dir, "calls.log"), "utf8").then(
        (t) => t.split("\n").filter((l) => l !== ""),
        () => []
      )
    )
    return { dir, executable, calls, set }
  })

const whoisCalls = (calls: Array<string>) => calls.filter((c) => c.startsWith("whois"))

const TAILNET_IP = "100.101.102.103"
const serveHeaders = (overrides: Record<string, string | undefined> = {}): Record<string, string> => {
  const all: Record<string, string | undefined> = {
    "X-Forwarded-For": TAILNET_IP,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "gw.tailnet.ts.net",
    "Tailscale-User-Login": "Alice@Example.com",
    "Tailscale-User-Name": "Alice",
    ...overrides
  }
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined))
}
const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))

// ---------------------------------------------------------------------------------------------

describe("which requests may claim a Tailscale identity (pure)", () => {
  it("a Serve-shaped request from loopback is a claim for the rightmost forwarded address", () => {
    expect(tailscaleClaim("127.0.0.1", lower(serveHeaders()))).toEqual({ _tag: "Claim", clientIp: TAILNET_IP, login: "Alice@Example.com" })
    expect(tailscaleClaim("::ffff:127.0.0.1", lower(serveHeaders()))?._tag).toBe("Claim")
    // A client cannot pick the address that is looked up: Serve appends the real one on the right.
    const spoofed = lower(serveHeaders({ "X-Forwarded-For": `100.64.0.9, ${TAILNET_IP}` }))
    expect(tailscaleClaim("127.0.0.1", spoofed)).toMatchObject({ clientIp: TAILNET_IP })
  })

  it("identity headers on a non-loopback socket are refused, even when they name loopback", () => {
    const claim = tailscaleClaim("198.51.100.7", lower(serveHeaders({ "X-Forwarded-For": "127.0.0.1" })))
    expect(claim?._tag).toBe("Refused")
    expect(claim).toMatchObject({ reason: expect.stringMatching(/198\.51\.100\.7, not from loopback/) })
    expect(tailscaleClaim(TAILNET_IP, lower(serveHeaders()))?._tag).toBe("Refused")
  })

  it("each missing Serve header is named; no identity header means no claim at all", () => {
    for (const name of ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"]) {
      const claim = tailscaleClaim("127.0.0.1", lower(serveHeaders({ [name]: undefined })))
      expect(claim).toMatchObject({ _tag: "Refused", reason: expect.stringContaining(name.toLowerCase()) })
    }
    expect(tailscaleClaim("127.0.0.1", lower(serveHeaders({ "X-Forwarded-Host": "  " })))?._tag).toBe("Refused")
    expect(tailscaleClaim("127.0.0.1", lower(serveHeaders({ "Tailscale-User-Login": undefined })))).toBeUndefined()
    // Only loopback in X-Forwarded-For: nobody to look up.
    expect(tailscaleClaim("127.0.0.1", lower(serveHeaders({ "X-Forwarded-For": "127.0.0.1, ::1" })))).toMatchObject({
      _tag: "Refused",
      reason: expect.stringMatching(/no client address/)
    })
  })

  it("with Tailscale in use, the loopback Serve proxy is trusted for the client address; otherwise it is not", () => {
    const headers = lower(serveHeaders())
    expect(resolveClientAddress("127.0.0.1", headers, { tailscaleProxy: true })).toEqual({
      ip: TAILNET_IP,
      isLoopback: false,
      forwarded: true,
      untrustedForwarding: false
    })
    expect(resolveClientAddress("127.0.0.1", headers, {})).toMatchObject({ ip: "127.0.0.1", isLoopback: false, untrustedForwarding: true })
    // The same headers from anywhere else are untrusted forwarding.
    expect(resolveClientAddress("198.51.100.7", headers, { tailscaleProxy: true })).toMatchObject({
      ip: "198.51.100.7",
      untrustedForwarding: true
    })
    // Plain X-Forwarded-For from loopback (no Serve headers) stays untrusted.
    expect(resolveClientAddress("127.0.0.1", { "x-forwarded-for": TAILNET_IP }, { tailscaleProxy: true }).untrustedForwarding).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------

const NoLog = Layer.succeed(GatewayLog, {
  file: "(none)",
  tail: () => Effect.fail(GatewayError.unavailable("no log")),
  addSecret: () => Effect.void
})

const authLayer = (config: Record<string, unknown>, logins: Record<string, string | null>, record = { calls: [] as Array<string> }) =>
  AuthLive().pipe(Layer.provide(Layer.mergeAll(ConfigMemory(config), NoLog, TailscaleTest(logins, record))))

const viaServe = (socket: string, headers = serveHeaders(), token?: string) => {
  const address = resolveClientAddress(socket, lower(headers), { tailscaleProxy: true })
  return {
    auth: token === undefined ? undefined : { token },
    clientIp: address.ip,
    isLoopback: address.isLoopback,
    forwarded: address.forwarded,
    hasOrigin: false,
    tailscale: tailscaleClaim(socket, lower(headers))
  }
}

const ALLOW = { gateway: { auth: { token: TOKEN, allowTailscale: true, rateLimit: { maxAttempts: 3 } }, tailscale: { mode: "serve" } } }

describe("Auth with gateway.auth.allowTailscale (fake Tailscale)", () => {
  it.effect("a whois login equal to the header (case-insensitively) admits without a token", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      expect(yield* auth.authenticate(viaServe("127.0.0.1"))).toEqual({ method: "tailscale", user: "alice@example.com" })
    }).pipe(Effect.provide(authLayer(ALLOW, { [TAILNET_IP]: "alice@example.com" })))
  )

  it.effect("a whois mismatch, a node with no user and a failed whois are refused and count towards the limit", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      const code = (e: GatewayError) => e.detailCode
      expect(code(yield* Effect.flip(auth.authenticate(viaServe("127.0.0.1"))))).toBe("AUTH_TAILSCALE_IDENTITY_MISMATCH")
      const tagged = viaServe("127.0.0.1", serveHeaders({ "X-Forwarded-For": "100.64.0.2" }))
      expect(code(yield* Effect.flip(auth.authenticate(tagged)))).toBe("AUTH_TAILSCALE_IDENTITY_MISMATCH")
      const unknown = viaServe("127.0.0.1", serveHeaders({ "X-Forwarded-For": "100.64.0.3" }))
      expect(code(yield* Effect.flip(auth.authenticate(unknown)))).toBe("AUTH_TAILSCALE_WHOIS_FAILED")
      // Three failures from the first address lock it out (maxAttempts 3); the last one says so.
      expect(code(yield* Effect.flip(auth.authenticate(viaServe("127.0.0.1"))))).toBe("AUTH_TAILSCALE_IDENTITY_MISMATCH")
      expect(code(yield* Effect.flip(auth.authenticate(viaServe("127.0.0.1"))))).toBe("AUTH_RATE_LIMITED")
      // Locked out: not even the right token helps now.
      expect(code(yield* Effect.flip(auth.authenticate(viaServe("127.0.0.1", serveHeaders(), TOKEN))))).toBe("AUTH_RATE_LIMITED")
    }).pipe(Effect.provide(authLayer(ALLOW, { [TAILNET_IP]: "mallory@example.com", "100.64.0.2": null })))
  )

  it.effect("identity headers on a non-loopback socket never reach whois, and count as a failure", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      const attempt = viaServe("198.51.100.7", serveHeaders({ "X-Forwarded-For": "127.0.0.1" }))
      expect(attempt.clientIp).toBe("198.51.100.7")
      for (let i = 0; i < 2; i++) {
        const e = yield* Effect.flip(auth.authenticate(attempt))
        expect(e.detailCode).toBe("AUTH_TAILSCALE_NOT_SERVE")
        expect(e.message).toMatch(/not from loopback/)
      }
      expect((yield* Effect.flip(auth.authenticate(attempt))).detailCode).toBe("AUTH_RATE_LIMITED")
    }).pipe(Effect.provide(authLayer(ALLOW, { "198.51.100.7": "alice@example.com", "127.0.0.1": "alice@example.com" })))
  )

  it.effect("a shared credential, when sent, is what counts; without allowTailscale, or with Funnel, identity headers are ignored", () =>
    Effect.gen(function* () {
      const record = { calls: [] as Array<string> }
      const run = (config: Record<string, unknown>, attempt: ReturnType<typeof viaServe>) =>
        Effect.flatMap(Auth, (a) => Effect.either(a.authenticate(attempt))).pipe(
          Effect.provide(authLayer(config, { [TAILNET_IP]: "alice@example.com" }, record))
        )
      const tokenSent = yield* run(ALLOW, viaServe("127.0.0.1", serveHeaders(), TOKEN))
      expect(Either.map(tokenSent, (g) => g.method)).toEqual(Either.right("token"))
      const wrongToken = yield* run(ALLOW, viaServe("127.0.0.1", serveHeaders(), "wrong"))
      expect(Either.isLeft(wrongToken) && wrongToken.left.detailCode).toBe("AUTH_TOKEN_MISMATCH")
      const off = yield* run({ gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve" } } }, viaServe("127.0.0.1"))
      expect(Either.isLeft(off) && off.left.detailCode).toBe("AUTH_TOKEN_MISSING")
      const funnel = yield* run(
        { gateway: { auth: { mode: "password", password: "pw-0123456789", allowTailscale: true }, tailscale: { mode: "funnel" } } },
        viaServe("127.0.0.1")
      )
      expect(Either.isLeft(funnel) && funnel.left.detailCode).toBe("AUTH_PASSWORD_MISSING")
      expect(record.calls).toEqual([])
    })
  )
})

// ---------------------------------------------------------------------------------------------

/** A lookup that says when it starts and answers when the test releases that address. */
const gatedLookup = Effect.gen(function* () {
  const started = yield* Queue.unbounded<string>()
  const gates = new Map<string, Deferred.Deferred<Option.Option<string>, TailscaleError>>()
  const gate = (ip: string) => {
    let g = gates.get(ip)
    if (g === undefined) {
      g = Deferred.unsafeMake<Option.Option<string>, TailscaleError>(FiberId.none)
      gates.set(ip, g)
    }
    return g
  }
  let running = 0
  let mostAtOnce = 0
  const calls: Array<string> = []
  const lookup = (ip: string) =>
    Effect.gen(function* () {
      calls.push(ip)
      running++
      mostAtOnce = Math.max(mostAtOnce, running)
      yield* Queue.offer(started, ip)
      return yield* Deferred.await(gate(ip))
    }).pipe(Effect.ensuring(Effect.sync(() => void running--)))
  const answer = (ip: string, login: string) =>
    Effect.gen(function* () {
      const g = gate(ip)
      yield* Deferred.succeed(g, Option.some(login))
      gates.delete(ip)
    })
  const fail = (ip: string) =>
    Effect.gen(function* () {
      yield* Deferred.fail(gate(ip), new TailscaleError({ reason: "Failed", command: `whois ${ip}`, message: `no match for IP: ${ip}` }))
      gates.delete(ip)
    })
  return { lookup, started, answer, fail, calls, mostAtOnce: () => mostAtOnce }
})

const CACHE = {
  ttlMs: 60_000,
  failureTtlMs: 5_000,
  capacity: 1_000,
  concurrency: 4,
  timeoutMs: 5_000,
  command: (ip: string) => `tailscale whois --json ${ip}`
}

describe("the whois cache (TestClock, scripted lookups)", () => {
  it.scoped("concurrent askers share one lookup; an answer is kept 60 s, then asked again", () =>
    Effect.gen(function* () {
      const fake = yield* gatedLookup
      const whois = yield* makeWhoisCache(fake.lookup, CACHE)
      const askers = yield* Effect.all([whois(TAILNET_IP), whois(TAILNET_IP), whois(TAILNET_IP)], { concurrency: "unbounded" }).pipe(
        Effect.fork
      )
      expect(yield* Queue.take(fake.started)).toBe(TAILNET_IP)
      yield* fake.answer(TAILNET_IP, "alice@example.com")
      expect(yield* Fiber.join(askers)).toEqual([
        Option.some("alice@example.com"),
        Option.some("alice@example.com"),
        Option.some("alice@example.com")
      ])
      expect(fake.calls).toEqual([TAILNET_IP])
      yield* TestClock.adjust("60 seconds")
      expect(yield* whois(TAILNET_IP)).toEqual(Option.some("alice@example.com"))
      expect(fake.calls).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      const again = yield* Effect.fork(whois(TAILNET_IP))
      yield* Queue.take(fake.started)
      yield* fake.answer(TAILNET_IP, "alice@new.example.com")
      expect(yield* Fiber.join(again)).toEqual(Option.some("alice@new.example.com"))
      expect(fake.calls).toHaveLength(2)
    })
  )

  it.scoped("a failure is kept 5 s, not 60", () =>
    Effect.gen(function* () {
      const fake = yield* gatedLookup
      const whois = yield* makeWhoisCache(fake.lookup, CACHE)
      const first = yield* Effect.fork(Effect.flip(whois(TAILNET_IP)))
      yield* Queue.take(fake.started)
      yield* fake.fail(TAILNET_IP)
      expect((yield* Fiber.join(first)).message).toBe(`no match for IP: ${TAILNET_IP}`)
      yield* TestClock.adjust("5 seconds")
      expect((yield* Effect.flip(whois(TAILNET_IP))).message).toBe(`no match for IP: ${TAILNET_IP}`)
      expect(fake.calls).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      const retried = yield* Effect.fork(whois(TAILNET_IP))
      yield* Queue.take(fake.started)
      yield* fake.answer(TAILNET_IP, "alice@example.com")
      expect(yield* Fiber.join(retried)).toEqual(Option.some("alice@example.com"))
      expect(fake.calls).toHaveLength(2)
    })
  )

  it.scoped("at most `capacity` addresses are kept; the one looked up longest ago is forgotten first", () =>
    Effect.gen(function* () {
      const fake = yield* gatedLookup
      const whois = yield* makeWhoisCache(fake.lookup, { ...CACHE, capacity: 2 })
      const lookedUp = (ip: string) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(whois(ip))
          expect(yield* Queue.take(fake.started)).toBe(ip)
          yield* fake.answer(ip, `${ip}@x`)
          return yield* Fiber.join(fiber)
        })
      yield* lookedUp("100.64.0.1")
      yield* lookedUp("100.64.0.2")
      yield* lookedUp("100.64.0.3") // a third address: .1 goes
      expect(yield* whois("100.64.0.2")).toEqual(Option.some("100.64.0.2@x"))
      expect(yield* whois("100.64.0.3")).toEqual(Option.some("100.64.0.3@x"))
      expect(fake.calls).toEqual(["100.64.0.1", "100.64.0.2", "100.64.0.3"])
      expect(yield* lookedUp("100.64.0.1")).toEqual(Option.some("100.64.0.1@x"))
      expect(fake.calls).toHaveLength(4)
    })
  )

  it.scoped("the cache starts over after 8 misses per address it may hold, so its bookkeeping stays bounded", () =>
    Effect.gen(function* () {
      const fake = yield* gatedLookup
      const whois = yield* makeWhoisCache(fake.lookup, { ...CACHE, capacity: 1, failureTtlMs: 1 })
      const lookedUp = (ip: string, ok: boolean) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(Effect.either(whois(ip)))
          yield* Queue.take(fake.started)
          yield* ok ? fake.answer(ip, "a@x") : fake.fail(ip)
          return yield* Fiber.join(fiber)
        })
      // One address failing again and again: a miss each time its failure expires.
      for (let i = 0; i < 7; i++) {
        yield* lookedUp(TAILNET_IP, false)
        yield* TestClock.adjust("2 millis")
      }
      expect(yield* lookedUp(TAILNET_IP, true)).toEqual(Either.right(Option.some("a@x")))
      expect(fake.calls).toHaveLength(8)
      // That was the 8th miss: the answer is forgotten with the cache, and asked again once.
      expect(yield* lookedUp(TAILNET_IP, true)).toEqual(Either.right(Option.some("a@x")))
      expect(yield* whois(TAILNET_IP)).toEqual(Option.some("a@x"))
      expect(fake.calls).toHaveLength(9)
    })
  )

  it.scoped("at most `concurrency` lookups run at once, and the deadline counts the wait for a slot", () =>
    Effect.gen(function* () {
      const fake = yield* gatedLookup
      const whois = yield* makeWhoisCache(fake.lookup, { ...CACHE, concurrency: 2, timeoutMs: 5_000 })
      const a = yield* Effect.fork(whois("100.64.0.1"))
      const b = yield* Effect.fork(whois("100.64.0.2"))
      yield* Queue.take(fake.started)
      yield* Queue.take(fake.started)
      yield* TestClock.adjust("1 second")
      const c = yield* Effect.fork(Effect.either(whois("100.64.0.3")))
      yield* TestClock.adjust("3 seconds")
      // Both slots are taken: the third has not started.
      expect(fake.calls).toEqual(["100.64.0.1", "100.64.0.2"])
      yield* fake.answer("100.64.0.1", "a@x")
      expect(yield* Fiber.join(a)).toEqual(Option.some("a@x"))
      expect(yield* Queue.take(fake.started)).toBe("100.64.0.3")
      expect(fake.mostAtOnce()).toBe(2)
      // .2 hangs: cut off at 5 s from its start.
      yield* TestClock.adjust("1 second")
      expect(yield* Effect.flip(Fiber.join(b))).toMatchObject({ reason: "Timeout" })
      // .3 waited 3 s for its slot, so it has 2 s left, not 5.
      yield* TestClock.adjust("2 seconds")
      const late = yield* Fiber.join(c)
      expect(Either.isLeft(late) && late.left).toMatchObject({
        reason: "Timeout",
        command: "tailscale whois --json 100.64.0.3",
        message: "tailscale whois 100.64.0.3 did not answer within 5000 ms"
      })
    })
  )

  it.scoped("an asker that goes away does not stop the lookup the others wait for", () =>
    Effect.gen(function* () {
      const fake = yield* gatedLookup
      const whois = yield* makeWhoisCache(fake.lookup, CACHE)
      const leaving = yield* Effect.fork(whois(TAILNET_IP))
      yield* Queue.take(fake.started)
      const staying = yield* Effect.fork(whois(TAILNET_IP))
      yield* Fiber.interrupt(leaving)
      yield* fake.answer(TAILNET_IP, "alice@example.com")
      expect(yield* Fiber.join(staying)).toEqual(Option.some("alice@example.com"))
      expect(fake.calls).toEqual([TAILNET_IP])
    })
  )
})

const cli = (ts: StandIn, options: Omit<TailscaleCliOptions, "executable"> = {}) =>
  Layer.build(TailscaleCli({ executable: ts.executable, ...options })).pipe(Effect.map(Context.get(Tailscale)))

describe("the tailscale CLI adapter (stand-in executable)", () => {
  it.scopedLive("whois reads UserProfile.LoginName; answers are cached, and concurrent lookups share one process", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com", "100.64.0.2": null }, whoisDelayMs: 200 })
      const tailscale = yield* cli(ts)
      const both = yield* Effect.all([tailscale.whois(TAILNET_IP), tailscale.whois(TAILNET_IP), tailscale.whois(TAILNET_IP)], {
        concurrency: "unbounded"
      })
      expect(both).toEqual([Option.some("alice@example.com"), Option.some("alice@example.com"), Option.some("alice@example.com")])
      expect(yield* tailscale.whois(TAILNET_IP)).toEqual(Option.some("alice@example.com"))
      expect(whoisCalls(yield* ts.calls)).toEqual([`whois --json ${TAILNET_IP}`])
      expect(yield* tailscale.whois("100.64.0.2")).toEqual(Option.none())
      const bad = yield* Effect.flip(tailscale.whois("-rf"))
      expect(bad.message).toMatch(/not an IP address/)
      expect(whoisCalls(yield* ts.calls)).toHaveLength(2)
    })
  )

  it.scoped("a failure is kept briefly (TestClock), then asked again; the cache holds a bounded number of addresses", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: {} })
      const tailscale = yield* cli(ts, { whoisFailureTtlMs: 300, whoisCacheSize: 2 })
      const first = yield* Effect.flip(tailscale.whois(TAILNET_IP))
      expect(first).toMatchObject({ reason: "Failed", message: expect.stringMatching(/no match for IP: 100\.101\.102\.103/) })
      yield* ts.set({ logins: { [TAILNET_IP]: "alice@example.com", "100.64.0.2": "b@x", "100.64.0.3": "c@x" } })
      yield* TestClock.adjust("300 millis")
      // Still the failure at 300 ms: kept, not asked again.
      expect((yield* Effect.flip(tailscale.whois(TAILNET_IP))).reason).toBe("Failed")
      expect(whoisCalls(yield* ts.calls)).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* tailscale.whois(TAILNET_IP)).toEqual(Option.some("alice@example.com"))
      expect(whoisCalls(yield* ts.calls)).toHaveLength(2)
      // Two more addresses push the first out of a cache of two.
      yield* tailscale.whois("100.64.0.2")
      yield* tailscale.whois("100.64.0.3")
      yield* tailscale.whois(TAILNET_IP)
      expect(whoisCalls(yield* ts.calls)).toHaveLength(5)
    })
  )

  it.scopedLive("whois is bounded in time (the process is killed) and in concurrency", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com", "100.64.0.2": "b@x" }, whoisDelayMs: 3_000 })
      const slow = yield* cli(ts, { whoisTimeoutMs: 300 })
      const started = Date.now()
      const e = yield* Effect.flip(slow.whois(TAILNET_IP))
      expect(e.reason).toBe("Timeout")
      expect(e.message).toMatch(/did not answer within 300 ms/)
      expect(Date.now() - started).toBeLessThan(2_000)
      const pid = Number(yield* Effect.promise(() => fs.readFile(path.join(ts.dir, "whois.pid"), "utf8")))
      expect(yield* gone(pid)).toBe(true)
      // One slot: the second address waits for the first.
      yield* ts.set({ logins: { [TAILNET_IP]: "alice@example.com", "100.64.0.2": "b@x" }, whoisDelayMs: 300 })
      const one = yield* cli(ts, { whoisConcurrency: 1 })
      const t0 = Date.now()
      yield* Effect.all([one.whois(TAILNET_IP), one.whois("100.64.0.2")], { concurrency: "unbounded" })
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550)
    })
  )

  it.scopedLive("serve, funnel and reset run the documented commands; failures name the command and its stderr", () =>
    Effect.gen(function* () {
      const ts = yield* standIn()
      const tailscale = yield* cli(ts)
      yield* tailscale.serve({ funnel: false, target: "http://127.0.0.1:18789" })
      yield* tailscale.serve({ funnel: true, target: "http://127.0.0.1:18789" })
      yield* tailscale.reset({ funnel: false })
      yield* tailscale.reset({ funnel: true })
      expect(yield* ts.calls).toEqual([
        "serve --bg --yes http://127.0.0.1:18789",
        "funnel --bg --yes http://127.0.0.1:18789",
        "serve reset",
        "funnel reset"
      ])
      yield* ts.set({ fail: "Funnel is not enabled on your tailnet" })
      const e = yield* Effect.flip(tailscale.serve({ funnel: true, target: "http://127.0.0.1:1" }))
      expect(e.reason).toBe("Failed")
      expect(e.message).toContain("funnel --bg --yes http://127.0.0.1:1` failed (exit 1): Funnel is not enabled on your tailnet")
      const missing = yield* Layer.build(TailscaleCli({ env: { PATH: ts.dir + "/nowhere" } })).pipe(
        Effect.flatMap((ctx) => Effect.flip(Context.get(ctx, Tailscale).reset({ funnel: false })))
      )
      expect(missing).toMatchObject({ reason: "NotFound", message: expect.stringMatching(/cannot run "tailscale": not found on PATH/) })
    })
  )
})

// ---------------------------------------------------------------------------------------------

const gatewayWith = (ts: StandIn, config: Record<string, unknown>, port = 0) =>
  startGateway(config, { tailscale: TailscaleCli({ executable: ts.executable }), flags: { port } })

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const startError = (ts: StandIn, config: Record<string, unknown>, port = 0) =>
  Effect.gen(function* () {
    const exit = yield* Effect.scoped(gatewayWith(ts, config, port)).pipe(Effect.exit)
    expect(Exit.isFailure(exit)).toBe(true)
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    return Option.isSome(failure) ? String((failure.value as { message?: string }).message) : ""
  })

describe("the Gateway with Tailscale Serve and Funnel", () => {
  it.scopedLive("serve runs for the port at start and is reset at shutdown with resetOnExit; status shows the mode", () =>
    Effect.gen(function* () {
      const ts = yield* standIn()
      const port = yield* Effect.scoped(
        Effect.gen(function* () {
          const gw = yield* gatewayWith(ts, { gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve", resetOnExit: true } } })
          expect(yield* ts.calls).toEqual([`serve --bg --yes http://127.0.0.1:${gw.port}`])
          const { peer } = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN } }))
          const status = yield* Effect.promise(() => peer.call("status"))
          expect(status.payload.gateway.tailscale).toBe("serve")
          return gw.port
        })
      )
      expect(yield* ts.calls).toEqual([`serve --bg --yes http://127.0.0.1:${port}`, "serve reset"])
    })
  )

  it.scopedLive("without resetOnExit the Serve config is left in place", () =>
    Effect.gen(function* () {
      const ts = yield* standIn()
      yield* Effect.scoped(gatewayWith(ts, { gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve" } } }))
      expect((yield* ts.calls).filter((c) => c.includes("reset"))).toEqual([])
    })
  )

  it.scopedLive("funnel needs password auth; serve and funnel need a loopback bind; a failing tailscale fails the start", () =>
    Effect.gen(function* () {
      const ts = yield* standIn()
      const funnelToken = yield* startError(ts, { gateway: { auth: { token: TOKEN }, tailscale: { mode: "funnel" } } })
      expect(funnelToken).toMatch(/gateway\.tailscale\.mode "funnel" .* needs password auth, but gateway\.auth\.mode is "token"/)
      const lan = yield* startError(ts, { gateway: { bind: "lan", auth: { token: TOKEN }, tailscale: { mode: "serve" } } })
      expect(lan).toMatch(/gateway\.tailscale\.mode "serve" needs a loopback bind, but gateway\.bind is "lan"/)
      const lanFunnel = yield* startError(ts, {
        gateway: { bind: "lan", auth: { mode: "password", password: "pw-0123456789" }, tailscale: { mode: "funnel" } }
      })
      expect(lanFunnel).toMatch(/needs a loopback bind/)
      expect(yield* ts.calls).toEqual([])
      yield* ts.set({ fail: "serve config denied: you must be an admin" })
      const port = yield* Effect.promise(freePort)
      const failing = yield* startError(ts, { gateway: { port, auth: { token: TOKEN }, tailscale: { mode: "serve" } } }, port)
      expect(failing).toMatch(
        /gateway\.tailscale\.mode "serve": `.*tailscale serve --bg --yes http:\/\/127\.0\.0\.1:\d+` failed \(exit 1\): serve config denied/
      )
      // The failed start gave the port back: the same port binds again.
      yield* ts.set({})
      const ok = yield* Effect.scoped(
        gatewayWith(ts, { gateway: { auth: { mode: "password", password: "pw-0123456789" }, tailscale: { mode: "funnel" } } }, port)
      )
      expect(ok.port).toBe(port)
      expect((yield* ts.calls).at(-1)).toBe(`funnel --bg --yes http://127.0.0.1:${port}`)
    })
  )
})

describe("Tailscale identity on the WebSocket (real Gateway, stand-in whois)", () => {
  const config = { gateway: { auth: { token: TOKEN, allowTailscale: true, rateLimit: { maxAttempts: 3 } }, tailscale: { mode: "serve" } } }

  it.scopedLive("a Serve request whose whois login matches (case-insensitively) connects without a token, as remote", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com" } })
      const gw = yield* gatewayWith(ts, config)
      const { peer, res } = yield* handshake(gw.url, connectParams({ scopes: ["operator.admin"] }), { headers: serveHeaders() })
      expect(res.ok).toBe(true)
      expect(res.payload.auth.method).toBe("tailscale")
      // Never local: without a paired device it gets no operator scopes.
      expect(res.payload.auth.scopes).toEqual([])
      expect((yield* Effect.promise(() => peer.call("status"))).error?.code).toBe("FORBIDDEN")
      expect((yield* Effect.promise(() => peer.call("health"))).ok).toBe(true)
      const admin = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN } }))
      const presence = yield* Effect.promise(() => admin.peer.call("system-presence"))
      expect(presence.payload.some((p: any) => p.ip === TAILNET_IP)).toBe(true)
      expect(whoisCalls(yield* ts.calls)).toEqual([`whois --json ${TAILNET_IP}`])
    })
  )

  it.scopedLive("a device that signs in with a Tailscale identity is not paired silently", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com" } })
      const gw = yield* gatewayWith(ts, config)
      const device = makeTestDevice()
      const { res } = yield* deviceHandshake(gw.url, device, connectParams({ scopes: ["operator.read"] }), { headers: serveHeaders() })
      expect(res.error?.details).toMatchObject({ code: "PAIRING_REQUIRED" })
    })
  )

  it.scopedLive("a whois mismatch, a missing Serve header and a failed whois are refused; failures lock the address out", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "mallory@example.com" } })
      const gw = yield* gatewayWith(ts, config)
      const mismatch = yield* handshake(gw.url, connectParams(), { headers: serveHeaders() })
      expect(mismatch.res.error).toMatchObject({ code: "INVALID_REQUEST", details: { code: "AUTH_TAILSCALE_IDENTITY_MISMATCH" } })
      expect((yield* Effect.promise(() => mismatch.peer.closed)).code).toBe(1008)
      const noHost = yield* handshake(gw.url, connectParams(), {
        headers: serveHeaders({ "X-Forwarded-For": "100.64.0.7", "X-Forwarded-Host": undefined })
      })
      expect(noHost.res.error?.details).toMatchObject({ code: "AUTH_TAILSCALE_NOT_SERVE" })
      expect(noHost.res.error?.message).toMatch(/without x-forwarded-host/)
      const unknown = yield* handshake(gw.url, connectParams(), { headers: serveHeaders({ "X-Forwarded-For": "100.64.0.8" }) })
      expect(unknown.res.error?.details).toMatchObject({ code: "AUTH_TAILSCALE_WHOIS_FAILED" })
      // The Serve-forwarded address is the one limited: two more failures lock it out.
      yield* handshake(gw.url, connectParams(), { headers: serveHeaders() })
      const locked = yield* handshake(gw.url, connectParams(), { headers: serveHeaders() })
      expect(locked.res.error?.details).toMatchObject({ code: "AUTH_RATE_LIMITED" })
      expect(whoisCalls(yield* ts.calls)).toEqual([`whois --json ${TAILNET_IP}`, "whois --json 100.64.0.8"])
      // Plain loopback clients are not affected.
      expect((yield* handshake(gw.url, connectParams({ auth: { token: TOKEN } }))).res.ok).toBe(true)
    })
  )

  it.scopedLive("a whois that hangs is cut off and refused in bounded time", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com" }, whoisDelayMs: 10_000 })
      const gw = yield* startGateway(config, { tailscale: TailscaleCli({ executable: ts.executable, whoisTimeoutMs: 400 }) })
      const started = Date.now()
      const { res } = yield* handshake(gw.url, connectParams(), { headers: serveHeaders() })
      expect(res.error?.details).toMatchObject({ code: "AUTH_TAILSCALE_WHOIS_FAILED" })
      expect(Date.now() - started).toBeLessThan(5_000)
    })
  )

  it.scopedLive("without allowTailscale, identity headers count for nothing", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com" } })
      const gw = yield* gatewayWith(ts, { gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve" } } })
      const { res } = yield* handshake(gw.url, connectParams(), { headers: serveHeaders() })
      expect(res.error?.details).toMatchObject({ code: "AUTH_TOKEN_MISSING" })
      expect(whoisCalls(yield* ts.calls)).toEqual([])
    })
  )

  it.scopedLive("HTTP endpoints never accept a Tailscale identity: no whois, nothing beyond the public probes", () =>
    Effect.gen(function* () {
      const ts = yield* standIn({ logins: { [TAILNET_IP]: "alice@example.com" } })
      const gw = yield* gatewayWith(ts, config)
      const get = (p: string) =>
        Effect.promise(
          () =>
            new Promise<{ status: number; body: string }>((resolve, reject) => {
              const req = http.get({ host: "127.0.0.1", port: gw.port, path: p, headers: serveHeaders() }, (res) => {
                let body = ""
                res.on("data", (d) => (body += d))
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
              })
              req.on("error", reject)
            })
        )
      expect(yield* get("/health")).toEqual({ status: 200, body: JSON.stringify({ ok: true, status: "live" }) })
      // No status over HTTP: these paths are the Control UI's page (a client-side route), not an API.
      for (const p of ["/status", "/api/status"]) expect((yield* get(p)).body).toMatch(/^<!doctype html>/i)
      expect(whoisCalls(yield* ts.calls)).toEqual([])
    })
  )
})

describe("clawgate gateway run with Tailscale (the CLI, stand-in tailscale on PATH)", () => {
  it.scopedLive("serve at start, `tailscale serve reset` after SIGTERM with resetOnExit", () =>
    Effect.gen(function* () {
      const ts = yield* standIn()
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve", resetOnExit: true } } })
      const env = { CLAWGATE_STATE_DIR: dir, PATH: `${ts.dir}${path.delimiter}${process.env.PATH ?? ""}` }
      const gw = yield* spawnGateway(["--port", "0"], env)
      expect(yield* ts.calls).toEqual([`serve --bg --yes http://127.0.0.1:${gw.port}`])
      const status = yield* runCli(["gateway", "status", "--json"], { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })
      expect(JSON.parse(status.stdout).status.gateway.tailscale).toBe("serve")
      expect(yield* Effect.promise(() => gw.stop("SIGTERM"))).toBe(0)
      expect(yield* ts.calls).toEqual([`serve --bg --yes http://127.0.0.1:${gw.port}`, "serve reset"])
      expect(gw.output()).toMatch(/tailscale serve: tailnet HTTPS → http:\/\/127\.0\.0\.1:\d+ \(reset on exit\)/)
    })
  )

  it.scopedLive("a missing tailscale executable fails the start with a clear message and a non-zero exit", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, tailscale: { mode: "serve" } } })
      const result = yield* runCli(["gateway", "run", "--port", "0"], { CLAWGATE_STATE_DIR: dir, PATH: path.join(dir, "empty") })
      expect(result.code).not.toBe(0)
      expect(result.stdout + result.stderr).toMatch(/gateway\.tailscale\.mode "serve": cannot run "tailscale": not found on PATH/)
    })
  )
})

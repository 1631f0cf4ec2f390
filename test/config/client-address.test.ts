import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either } from "effect"
import * as net from "node:net"
import { addressList, parseAddressEntry } from "../../src/config/addressList.js"
import { matchesProxy, resolveClientAddress } from "../../src/config/clientAddress.js"
import { validateConfig } from "../../src/config/schema.js"
import { GatewayState } from "../../src/services/GatewayState.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { connectParams, handshake } from "../support/ws.js"

const via = (peer: string, xff: string, trustedProxies: ReadonlyArray<string>) =>
  resolveClientAddress(peer, { "x-forwarded-for": xff }, { trustedProxies })

const issues = (raw: unknown) => Either.match(validateConfig(raw), { onLeft: (i) => i, onRight: () => [] })

describe("gateway.trustedProxies entries", () => {
  it("an IPv4 CIDR trusts the addresses inside it and no others", () => {
    expect(via("10.1.2.3", "203.0.113.9", ["10.0.0.0/8"])).toEqual({
      ip: "203.0.113.9",
      isLoopback: false,
      forwarded: true,
      untrustedForwarding: false
    })
    expect(via("11.0.0.1", "203.0.113.9", ["10.0.0.0/8"])).toMatchObject({ ip: "11.0.0.1", untrustedForwarding: true })
    expect(matchesProxy("192.168.1.255", "192.168.1.0/24")).toBe(true)
    expect(matchesProxy("192.168.2.0", "192.168.1.0/24")).toBe(false)
  })

  it("an IPv6 CIDR trusts the addresses inside it and no others", () => {
    const tailnet = ["fd7a:115c:a1e0::/48"]
    expect(via("fd7a:115c:a1e0:ab12:4843:cd96:626b:430b", "203.0.113.9", tailnet)).toMatchObject({
      ip: "203.0.113.9",
      untrustedForwarding: false
    })
    expect(via("fd7a:115c:a1e1::1", "203.0.113.9", tailnet)).toMatchObject({ ip: "fd7a:115c:a1e1::1", untrustedForwarding: true })
    expect(matchesProxy("2001:db8:ffff::1", "2001:db8::/32")).toBe(true)
    expect(matchesProxy("2001:db9::1", "2001:db8::/32")).toBe(false)
  })

  it("an exact IPv6 address matches itself in any spelling, and nothing else", () => {
    expect(matchesProxy("::1", "::1")).toBe(true)
    expect(matchesProxy("::1", "::1/128")).toBe(true)
    expect(matchesProxy("0:0:0:0:0:0:0:1", "::1/128")).toBe(true)
    expect(matchesProxy("::2", "::1/128")).toBe(false)
    expect(matchesProxy("127.0.0.1", "::1")).toBe(false)
  })

  it("an X-Forwarded-For chain through IPv6 proxies ends at the first untrusted hop, IPv6 or IPv4", () => {
    const proxies = ["::1/128", "fd7a:115c:a1e0::/48"]
    expect(via("::1", "203.0.113.7, fd7a:115c:a1e0::5", proxies).ip).toBe("203.0.113.7")
    expect(via("::1", "198.51.100.1, 2001:db8::7, fd7a:115c:a1e0::5", proxies).ip).toBe("2001:db8::7")
  })

  it("IPv4-mapped IPv6 matches IPv4 entries, and IPv4 matches IPv4-mapped entries", () => {
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    expect(via("::ffff:10.0.0.5", "203.0.113.9", ["10.0.0.0/8"])).toMatchObject({ ip: "203.0.113.9", untrustedForwarding: false })
    expect(matchesProxy("::ffff:10.0.0.5", "10.0.0.5")).toBe(true)
    expect(matchesProxy("::ffff:a00:5", "10.0.0.5")).toBe(true)
    expect(matchesProxy("::ffff:11.0.0.5", "10.0.0.0/8")).toBe(false)
    // And the other way round: an entry written as a mapped address.
    expect(via("10.0.0.5", "203.0.113.9", ["::ffff:10.0.0.5"])).toMatchObject({ ip: "203.0.113.9", untrustedForwarding: false })
    expect(matchesProxy("10.0.0.77", "::ffff:10.0.0.0/104")).toBe(true)
    expect(matchesProxy("10.0.0.6", "::ffff:10.0.0.5")).toBe(false)
  })

  it("/0 covers its whole family: 0.0.0.0/0 every IPv4 address, ::/0 every IPv6 address (IPv4 as mapped)", () => {
    for (const ip of ["1.2.3.4", "255.255.255.255", "::ffff:8.8.8.8"]) expect(matchesProxy(ip, "0.0.0.0/0")).toBe(true)
    expect(matchesProxy("2001:db8::1", "0.0.0.0/0")).toBe(false)
    for (const ip of ["2001:db8::1", "::1", "fe80::1", "1.2.3.4"]) expect(matchesProxy(ip, "::/0")).toBe(true)
  })

  it("a forwarded hop or a peer that is not an address is never trusted", () => {
    expect(matchesProxy("unknown", "0.0.0.0/0")).toBe(false)
    expect(matchesProxy("", "::/0")).toBe(false)
    // Only config validation lets entries in; one that slips past it trusts nothing.
    expect(matchesProxy("10.0.0.1", "10.0.0.0/33")).toBe(false)
    expect(matchesProxy("10.0.0.1", "10.0.0.1\n10.0.0.2")).toBe(false)
  })

  it("the list is built once per config, not per request", () => {
    const entries = ["10.0.0.0/8", "fd7a:115c:a1e0::/48"]
    const list = addressList(entries)
    expect(addressList(entries)).toBe(list)
    // A config store that decodes afresh (new arrays, same entries) gets the same list.
    expect(addressList([...entries])).toBe(list)
    expect(addressList(["10.0.0.0/8"])).not.toBe(list)
    expect(list.matches("fd7a:115c:a1e0::9")).toBe(true)
  })

  it("valid entries pass config validation", () => {
    const good = [
      "10.0.0.5",
      "10.0.0.0/8",
      "::1",
      "::1/128",
      "fd7a:115c:a1e0::/48",
      "2001:db8::/32",
      "::ffff:10.0.0.5",
      "0.0.0.0/0",
      "::/0"
    ]
    expect(issues({ gateway: { trustedProxies: good } })).toEqual([])
    expect(Either.getOrThrow(parseAddressEntry("fd7a:115c:a1e0::/48"))).toEqual({ address: "fd7a:115c:a1e0::", family: "ipv6", prefix: 48 })
  })

  it("invalid entries are refused by config validation, naming the entry and its value", () => {
    const bad = ["10.0.0.1", "10.0.0.0/33", "fd00::/129", "not-an-ip", "", "10.0.0.0/", "10.0.0.0/8/8", " 10.0.0.2", "999.0.0.1"]
    const found = issues({ gateway: { trustedProxies: bad } })
    expect(found.map((i) => i.path)).toEqual(bad.slice(1).map((_, i) => `gateway.trustedProxies[${i + 1}]`))
    const message = (i: number) => found.find((f) => f.path === `gateway.trustedProxies[${i}]`)?.message
    expect(message(1)).toBe('"10.0.0.0/33" has the prefix /33, but an IPv4 prefix is a whole number from 0 to 32')
    expect(message(2)).toBe('"fd00::/129" has the prefix /129, but an IPv6 prefix is a whole number from 0 to 128')
    expect(message(3)).toMatch(/^"not-an-ip" is not an IP address or CIDR: write an address such as 10\.0\.0\.5/)
    expect(message(4)).toMatch(/^"" is empty: write an address/)
    expect(message(7)).toBe('" 10.0.0.2" has spaces around it: write "10.0.0.2"')
    expect(message(8)).toMatch(/^"999\.0\.0\.1" is not an IP address or CIDR/)
    // A very long entry is quoted in part.
    const [long] = issues({ gateway: { trustedProxies: ["a".repeat(10_000)] } })
    expect(long?.message.length).toBeLessThan(300)
  })

  it.scopedLive("a Gateway refuses to start with an invalid entry, and says which", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(startGateway({ gateway: { auth: { token: TOKEN }, trustedProxies: ["::1", "fd00::/129"] } }))
      expect(String((error as { message?: string }).message)).toContain('gateway.trustedProxies[1]: "fd00::/129" has the prefix /129')
    })
  )
})

/** Whether this machine can listen on ::1 (some containers have no IPv6 loopback). */
const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const server = net.createServer()
  server.once("error", () => resolve(false))
  server.listen(0, "::1", () => server.close(() => resolve(true)))
})

const proxySuite = ipv6Loopback
  ? "a reverse proxy on ::1"
  : "a reverse proxy on ::1 (skipped: this machine cannot listen on the IPv6 loopback ::1)"
describe.skipIf(!ipv6Loopback)(proxySuite, () => {
  it.scopedLive('with trustedProxies ["::1/128"], a connection over ::1 is the client it forwarded', () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, trustedProxies: ["::1/128"] } })
      const state = Context.get(gw.context as Context.Context<GatewayState>, GatewayState)
      const forwarded = { headers: { "X-Forwarded-For": "203.0.113.7" } }
      const { peer } = yield* handshake(
        `ws://[::1]:${gw.port}`,
        connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }),
        forwarded
      )
      expect((yield* state.untrustedProxyHeaders).count).toBe(0)

      const admin = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] }))
      const presence = yield* Effect.promise(() => admin.peer.call("system-presence"))
      expect(presence.payload.map((p: any) => p.ip)).toContain("203.0.113.7")
      // The forwarded client is remote: without a paired device it gets no scopes.
      expect((yield* Effect.promise(() => peer.call("status"))).error?.code).toBe("FORBIDDEN")

      // The same headers over 127.0.0.1, which is not listed, are ignored and counted.
      yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }), forwarded)
      expect(yield* state.untrustedProxyHeaders).toMatchObject({ count: 1, lastFrom: "127.0.0.1" })
    })
  )
})

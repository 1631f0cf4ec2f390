/**
 * The doctor program against fakes (DoctorProbes, Tailscale, config in memory): the rules for
 * what a running Gateway should publish on Tailscale, a store migrated by a newer version, a
 * migration still to apply, and that --fix asks the probes to repair only what they reported.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { TailscaleTest } from "../../src/layers/TailscaleTest.js"
import { doctor, type DoctorReport } from "../../src/programs/doctor.js"
import { DoctorProbes, type DoctorProbesService, type LockFact, type StoreFact } from "../../src/services/DoctorProbes.js"
import { ServiceManager, type ServiceState } from "../../src/services/ServiceManager.js"

const migrations = [
  { id: 1, name: "devices" },
  { id: 2, name: "sessions" }
]
const soundStore: StoreFact = {
  state: "open",
  path: "/s/clawgate.sqlite",
  integrity: ["ok"],
  applied: migrations,
  expected: migrations,
  pending: { count: 0 }
}

interface Fake {
  readonly lock?: LockFact
  readonly store?: StoreFact
  readonly calls: Array<string>
}

const probes = (fake: Fake): Layer.Layer<DoctorProbes> =>
  Layer.succeed(
    DoctorProbes,
    DoctorProbes.of({
      files: () => Effect.succeed([]),
      tighten: (p) => Effect.sync(() => (fake.calls.push(`tighten ${p}`), { ok: true, note: "tightened" })),
      lock: () => Effect.succeed(fake.lock ?? { state: "free" }),
      removeStaleLock: () => Effect.sync(() => (fake.calls.push("removeStaleLock"), { removed: true, note: "removed" })),
      port: () => Effect.succeed({ state: "free" }),
      tls: () => Effect.die("no TLS in these tests"),
      which: (name) => Effect.succeed(`/usr/bin/${name}`),
      store: () => Effect.succeed(fake.store ?? soundStore),
      otherProfiles: () => Effect.succeed([])
    } satisfies DoctorProbesService)
  )

/** A service manager that only reports a state (the doctor never installs or starts anything). */
const service = (state: Partial<ServiceState> = {}): Layer.Layer<ServiceManager> => {
  const no = Effect.die("the doctor must not change the service")
  const full: ServiceState = {
    manager: "systemd",
    name: "clawgate-gateway.service",
    unitPath: "/h/.config/systemd/user/clawgate-gateway.service",
    installed: false,
    ...state
  }
  return Layer.succeed(ServiceManager, {
    manager: "systemd",
    name: full.name,
    unitPath: full.unitPath,
    expected: "",
    install: () => no,
    uninstall: no,
    start: no,
    stop: no,
    restart: no,
    status: Effect.succeed(full)
  })
}

const run = (config: Record<string, unknown>, fake: Fake, tailscaleCalls: Array<string> = [], fix = false, svc = service()) =>
  doctor({ fix }).pipe(
    Effect.provide(Layer.mergeAll(ConfigMemory(config), probes(fake), TailscaleTest({}, { calls: tailscaleCalls }), svc))
  )

const ids = (r: DoctorReport) => r.findings.map((f) => `${f.severity} ${f.id}`)
const held: LockFact = {
  state: "held",
  lockPath: "/s/gateway.lock",
  owner: { pid: 42, stateDir: "/s", startedAt: "t", url: "ws://127.0.0.1:18789" }
}
const token = { auth: { token: "Zq8v0rK3mJx1Tn6bWc4YpLs9Hd2Gf7AeQu5NiRoVkEt" } }

describe("doctor (the program)", () => {
  it.effect("a running Gateway in serve mode that Tailscale does not publish is a warning; published, it is ok", () =>
    Effect.gen(function* () {
      const config = { gateway: { ...token, tailscale: { mode: "serve" } } }
      const notServing = yield* run(config, { lock: held, calls: [] })
      expect(ids(notServing)).toContain("warn tools.tailscale_not_serving")
      const serving = yield* run(config, { lock: held, calls: [] }, ["serve http://127.0.0.1:18789"])
      expect(ids(serving)).toContain("ok tools.tailscale")
      // With no Gateway running, what Serve still publishes is left over from an earlier run.
      const leftover = yield* run(config, { calls: [] }, ["serve http://127.0.0.1:18789"])
      expect(leftover.findings.find((f) => f.id === "tools.tailscale_leftover")?.fix).toContain("tailscale serve reset")
    })
  )

  it.effect("a store migrated by a newer clawgate is critical; a migration still to apply is information", () =>
    Effect.gen(function* () {
      const newer = yield* run(
        { gateway: token },
        {
          calls: [],
          store: { ...soundStore, applied: [...migrations, { id: 3, name: "future" }] } as StoreFact
        }
      )
      expect(ids(newer)).toContain("critical store.newer")
      expect(newer.summary.critical).toBe(1)
      const behind = yield* run({ gateway: token }, { calls: [], store: { ...soundStore, applied: migrations.slice(0, 1) } as StoreFact })
      expect(behind.findings.find((f) => f.id === "store.migrations_pending")?.message).toContain("2_sessions")
    })
  )

  it.effect("--fix removes a stale lock through the probe, and does nothing to a held one", () =>
    Effect.gen(function* () {
      const stale: Fake = { lock: { state: "stale", lockPath: "/s/gateway.lock", reason: "pid 7 is not running" }, calls: [] }
      const fixed = yield* run({ gateway: token }, stale, [], true)
      expect(stale.calls).toEqual(["removeStaleLock"])
      expect(fixed.findings.find((f) => f.id === "lock.stale")?.fixed).toBe(true)
      expect(fixed.fixed).toBe(1)
      const live: Fake = { lock: held, calls: [] }
      yield* run({ gateway: token }, live, [], true)
      expect(live.calls).toEqual([])
    })
  )

  it.effect(
    "the service unit: none is info, one that starts another entrypoint is a warning with the fix, a failed one with no Gateway running is critical",
    () =>
      Effect.gen(function* () {
        const none = yield* run({ gateway: token }, { calls: [] })
        expect(none.findings.find((x) => x.area === "service")).toMatchObject({
          id: "service.none",
          severity: "info",
          fix: expect.stringContaining("clawgate gateway install")
        })
        const stale = yield* run(
          { gateway: token },
          { calls: [] },
          [],
          false,
          service({ installed: true, current: false, enabled: "enabled", active: "active" })
        )
        expect(ids(stale)).toContain("warn service.stale")
        expect(stale.findings.find((x) => x.id === "service.stale")?.fix).toBe("clawgate gateway install --force")
        const failed = yield* run(
          { gateway: token },
          { calls: [] },
          [],
          false,
          service({ installed: true, current: true, enabled: "enabled", active: "failed", execMainStatus: 78 })
        )
        expect(ids(failed)).toEqual(expect.arrayContaining(["ok service.current", "critical service.failed"]))
        expect(failed.findings.find((x) => x.id === "service.failed")?.message).toMatch(
          /last exit status 78: another Gateway held the state dir/
        )
        expect(failed.summary.critical).toBe(1)
      })
  )
})

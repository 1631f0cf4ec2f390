/**
 * Profiles with real processes: `--profile NAME` and `--dev` give a Gateway and its client commands a
 * state dir, config and port of their own, so two run side by side on one host with their own stores.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { checkProfileName, DEV_PORT, parseProfileArgs, profileDefaultPort } from "../../src/config/profile.js"
import { resolveEnv, resolvePaths } from "../../src/layers/ConfigFile.js"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir } from "../support/gateway.js"

const argv = (...args: Array<string>) => ["node", "clawgate", ...args]

describe("profile flags and paths", () => {
  it("takes --profile/--dev before the command out of argv, and only there", () => {
    expect(parseProfileArgs(argv("--profile", "work", "status", "--json"))).toEqual({
      argv: argv("status", "--json"),
      profile: { name: "work" }
    })
    expect(parseProfileArgs(argv("--profile=work", "status")).profile).toEqual({ name: "work" })
    expect(parseProfileArgs(argv("--dev", "gateway", "run")).profile).toEqual({ name: "dev" })
    expect(parseProfileArgs(argv("--profile", "default", "status")).profile).toEqual({ name: undefined })
    // After the command, the words are the command's own (a message may say --dev).
    expect(parseProfileArgs(argv("agent", "-m", "--dev"))).toEqual({ argv: argv("agent", "-m", "--dev"), profile: undefined })
    expect(parseProfileArgs(argv("--profile")).error).toMatch(/--profile needs a name/)
    expect(parseProfileArgs(argv("--profile", "../etc", "status")).error).toMatch(/not valid/)
    expect(parseProfileArgs(argv("--dev", "--profile", "work", "status")).error).toMatch(/different profiles/)
    expect(checkProfileName("x".repeat(33))).toHaveProperty("error")
    expect(checkProfileName("Work")).toHaveProperty("error")
  })

  it("gives a profile its own state dir, config and default port; the profile wins over CLAWGATE_STATE_DIR", () => {
    expect(resolvePaths({ CLAWGATE_PROFILE: "work", CLAWGATE_STATE_DIR: "/srv/cg" }, "/home/u")).toEqual({
      configPath: "/home/u/.clawgate-work/clawgate.json",
      stateDir: "/home/u/.clawgate-work",
      configPathSource: "CLAWGATE_PROFILE",
      profile: "work"
    })
    expect(resolveEnv({ CLAWGATE_PROFILE: "dev" }).profile).toEqual({ name: "dev", defaultPort: DEV_PORT })
    const work = profileDefaultPort("work")
    expect(work).toBeGreaterThan(19001)
    expect(work).not.toBe(18789)
    expect(profileDefaultPort("work", new Set([work]))).not.toBe(work)
  })
})

/** Two names whose default ports are the same slot, found by search (the slots are a hash of the name). */
const collidingNames = (): [string, string] => {
  const seen = new Map<number, string>()
  for (let i = 0; ; i++) {
    const name = `p${i}`
    const port = profileDefaultPort(name)
    const other = seen.get(port)
    if (other !== undefined) return [other, name]
    seen.set(port, name)
  }
}

describe("profiles side by side", () => {
  it.scopedLive("two profiles run at once on their default ports, each with its own store, lock and status", () =>
    Effect.gen(function* () {
      const home = yield* tempDir()
      const env = { HOME: home }
      const a = yield* spawnGateway([], env, ["--profile", "alpha"])
      const b = yield* spawnGateway([], env, ["--dev"])
      expect(a.port).toBe(profileDefaultPort("alpha"))
      expect(b.port).toBe(DEV_PORT)
      for (const dir of [".clawgate-alpha", ".clawgate-dev"]) {
        expect((yield* Effect.promise(() => fs.stat(path.join(home, dir, "clawgate.sqlite")))).isFile()).toBe(true)
      }
      // Each client command finds its own Gateway from the profile alone.
      const statusA = yield* runCli(["--profile", "alpha", "gateway", "status", "--json"], env)
      expect(statusA.code).toBe(0)
      const reportA = JSON.parse(statusA.stdout)
      expect(reportA.profile).toEqual({ name: "alpha", stateDir: path.join(home, ".clawgate-alpha") })
      expect(reportA.target.url).toBe(a.url)
      expect(reportA.status.gateway.profile).toBe("alpha")
      const statusB = yield* runCli(["--dev", "status"], env)
      expect(statusB.stdout).toContain(`Profile:   dev (state dir ${path.join(home, ".clawgate-dev")})`)
      expect(statusB.stdout).toContain(b.url.replace("ws://", ""))
      // The default profile has no Gateway here: its status says so, and names how to start one.
      const plain = yield* runCli(["gateway", "status"], env)
      expect(plain.code).toBe(3)
      expect(plain.stdout).toContain("Profile:   default")
      // One Gateway per profile: a second start of alpha is refused, naming the command that stops alpha's.
      const again = yield* runCli(["--profile", "alpha", "gateway", "run"], env)
      expect(again.code).toBe(78)
      expect(again.stderr).toContain(`clawgate --profile alpha gateway stop (or kill ${a.child.pid})`)
      expect(yield* Effect.promise(() => a.stop())).toBe(0)
      expect(yield* Effect.promise(() => b.stop())).toBe(0)
    })
  )

  it.scopedLive("a profile whose default port is another profile's takes the next one and records it in its config", () =>
    Effect.gen(function* () {
      const home = yield* tempDir()
      const env = { HOME: home }
      const [first, second] = collidingNames()
      const one = yield* spawnGateway([], env, ["--profile", first])
      const two = yield* spawnGateway([], env, ["--profile", second])
      expect(one.port).toBe(profileDefaultPort(first))
      expect(two.port).not.toBe(one.port)
      expect(two.output()).toContain(`profile ${second}: port ${one.port} is another profile's`)
      const saved = yield* Effect.promise(() => fs.readFile(path.join(home, `.clawgate-${second}`, "clawgate.json"), "utf8"))
      expect(JSON.parse(saved).gateway.port).toBe(two.port)
      const health = yield* runCli(["--profile", second, "health"], env)
      expect(health.code).toBe(0)
    })
  )

  it.scopedLive("an invalid profile is refused before anything runs, with exit 2 and what a valid name is", () =>
    Effect.gen(function* () {
      const home = yield* tempDir()
      const bad = yield* runCli(["--profile", "../../etc", "gateway", "run"], { HOME: home })
      expect(bad.code).toBe(2)
      expect(bad.stderr).toMatch(/profile name "..\/..\/etc" is not valid: use 1 to 32 characters/)
      const fromEnv = yield* runCli(["status"], { HOME: home, CLAWGATE_PROFILE: "A B" })
      expect(fromEnv.code).toBe(2)
      expect(fromEnv.stderr).toMatch(/CLAWGATE_PROFILE: profile name "A B" is not valid/)
      expect(yield* Effect.promise(() => fs.readdir(home))).toEqual([])
    })
  )
})

/**
 * Property: whatever frames peers send, in any phase (before connect, as
 * connect, as an operator, as a node), the Gateway process stays up and
 * answers `health` for another client after every batch.
 *
 * `npm test` throws CLAWGATE_FUZZ_FRAMES frames (20,000 by default);
 * `npm run fuzz` throws a million and prints frames/s, crashes and RSS.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"
import { batchArb, makeFuzzer, rssMb } from "../support/fuzz.js"

const TOKEN = "fuzz-token-0123456789abcdef"
const FRAMES = Number(process.env.CLAWGATE_FUZZ_FRAMES ?? 20_000)
const BATCH = 500
const SEED = process.env.CLAWGATE_FUZZ_SEED !== undefined ? Number(process.env.CLAWGATE_FUZZ_SEED) : undefined

describe("fuzzing a real Gateway", () => {
  it.scopedLive(
    `${FRAMES} generated frames in every phase: the Gateway stays up and answers health after every batch of ${BATCH}`,
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
        const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
        const pid = gw.child.pid!
        const target = { url: gw.url, token: TOKEN, pid, alive: () => gw.child.exitCode === null && gw.child.signalCode === null }
        const fuzzer = yield* Effect.acquireRelease(
          Effect.promise(() => makeFuzzer(target)),
          (f) => Effect.sync(() => f.close())
        )
        const rssBefore = rssMb(pid)
        const started = performance.now()
        const outcome = yield* Effect.promise(() =>
          fc
            .assert(
              fc.asyncProperty(batchArb(TOKEN, fuzzer.methods, fuzzer.nodeId, BATCH), (batch) => fuzzer.batch(batch)),
              { numRuns: Math.max(1, Math.round(FRAMES / BATCH)), endOnFailure: true, ...(SEED !== undefined ? { seed: SEED } : {}) }
            )
            .then(
              () => undefined,
              (e: Error) => e
            )
        )
        const seconds = (performance.now() - started) / 1000
        const crashes = target.alive() ? 0 : 1
        const rssAfter = crashes ? NaN : rssMb(pid)
        const s = fuzzer.stats
        console.log(
          `fuzz: ${s.frames} frames in ${seconds.toFixed(1)} s (${Math.round(s.frames / seconds)} frames/s) over ${s.connections} connections; ` +
            `crashes ${crashes}; unanswered ${s.unanswered}; gateway RSS ${rssBefore.toFixed(1)} MB before, ${rssAfter.toFixed(1)} MB after`
        )
        if (outcome) throw outcome
        expect(crashes).toBe(0)
        // Every frame got an answer, or its connection a close.
        expect(s.unanswered).toBe(0)
        expect(s.frames).toBeGreaterThanOrEqual(FRAMES - BATCH)
      }),
    { timeout: Math.max(120_000, FRAMES * 2) }
  )
})

/**
 * Small fakes for the channel tests: a Sessions with just the cursor store,
 * an AgentRunner that records what it is asked to start (and stores the
 * cursor with the "message", as the real one does in one transaction), a
 * GatewayLog that masks nothing, and a logger that keeps every line.
 */
import { Effect, Layer, Logger, Option } from "effect"
import { AgentRunner, type AgentRequest, type AgentRunnerService } from "../../src/services/AgentRunner.js"
import { GatewayLog } from "../../src/services/GatewayLog.js"
import { Sessions, type ChannelCursor, type SessionsService } from "../../src/services/Sessions.js"
import { GatewayError } from "../../src/protocol/errors.js"

const notHere = (what: string) => () => Effect.die(`${what} is not part of the fake`)

export interface FakeStore {
  readonly cursors: Map<string, string>
  readonly setCursorCalls: Array<ChannelCursor>
}

export const makeStore = (): FakeStore => ({ cursors: new Map(), setCursorCalls: [] })

export const fakeSessions = (store: FakeStore) =>
  Layer.succeed(Sessions, {
    cursor: (channel, account) => Effect.sync(() => Option.fromNullable(store.cursors.get(`${channel}:${account}`))),
    setCursor: (cursor) =>
      Effect.sync(() => {
        store.setCursorCalls.push(cursor)
        store.cursors.set(`${cursor.channel}:${cursor.account}`, cursor.value)
      }),
    ensure: notHere("ensure"),
    get: notHere("get"),
    list: notHere("list"),
    history: notHere("history"),
    append: notHere("append"),
    reset: notHere("reset"),
    remove: notHere("remove"),
    putRun: notHere("putRun"),
    getRun: notHere("getRun"),
    failInterrupted: notHere("failInterrupted"),
    undelivered: Effect.die("undelivered is not part of the fake"),
    summary: notHere("summary"),
    watch: () => Effect.void,
    changes: () => Effect.void
  } satisfies SessionsService)

export interface FakeRunner {
  readonly starts: Array<AgentRequest>
  /** The next `n` starts fail with UNAVAILABLE (nothing stored). */
  failNext: number
}

export const makeRunner = (): FakeRunner => ({ starts: [], failNext: 0 })

/** `start` stores the request's cursor with it (the real runner's one transaction) and dedupes by key. */
export const fakeRunner = (runner: FakeRunner, store: FakeStore) =>
  Layer.succeed(AgentRunner, {
    start: (request) =>
      Effect.suspend(() => {
        if (runner.failNext > 0) {
          runner.failNext--
          return Effect.fail(GatewayError.unavailable("the store is busy"))
        }
        const deduped = runner.starts.some((r) => r.idempotencyKey === request.idempotencyKey)
        if (!deduped) {
          runner.starts.push(request)
          if (request.cursor) store.cursors.set(`${request.cursor.channel}:${request.cursor.account}`, request.cursor.value)
        }
        return Effect.succeed({
          runId: request.idempotencyKey,
          sessionKey: request.sessionKey ?? "agent:main:main",
          status: "accepted" as const,
          acceptedAt: Date.now(),
          deduped
        })
      }),
    wait: notHere("wait"),
    abort: notHere("abort"),
    get: notHere("get"),
    activity: Effect.succeed({ runs: 0, sessions: 0 })
  } satisfies AgentRunnerService)

export const fakeGatewayLog = (secrets: Set<string> = new Set()) =>
  Layer.succeed(GatewayLog, {
    file: "(memory)",
    tail: notHere("tail"),
    addSecret: (s) => Effect.sync(() => void secrets.add(s))
  })

/** Every log line, as "level message". */
export const captureLogs = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      const text = (Array.isArray(message) ? message : [message]).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")
      lines.push(`${logLevel.label} ${text}`)
    })
  )

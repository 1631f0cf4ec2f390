/**
 * The method table is the one source of truth: what the Dispatcher decodes, what it authorises, what a
 * client decodes. And the hand decoders of the invoke hot path accept exactly what the table's schemas accept.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, FastCheck as fc, Schema } from "effect"
import { makeDispatcher } from "../../src/layers/DispatcherLive.js"
import { decodeNodeInvoke, decodeNodeInvokeResult } from "../../src/layers/methods/invokeDecoder.js"
import { GatewayClientScript, GatewayClientTest } from "../../src/layers/GatewayClientTest.js"
import { method, requiresScope, resultDecoder } from "../../src/protocol/method.js"
import { Methods, Nodes, requirementOf } from "../../src/protocol/methods.js"
import { agent } from "../../src/programs/agent.js"
import { GatewayClient } from "../../src/services/GatewayClient.js"
import { serve, type CallContext } from "../../src/services/Dispatcher.js"

/** Values of the shapes a peer sends: the usual ones, near misses, and anything at all. */
const text = fc.oneof(fc.string({ maxLength: 4 }), fc.constant(""), fc.string({ minLength: 250, maxLength: 260 }))
const anything = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  text,
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 })
)
const field = (usual: fc.Arbitrary<unknown>) => fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: anything })
const invokeParams = fc.oneof(
  anything,
  fc.record(
    {
      nodeId: field(text),
      command: field(text),
      idempotencyKey: field(text),
      params: field(fc.object({ maxDepth: 1 })),
      timeoutMs: field(fc.oneof(fc.integer({ min: -5, max: 700_000 }), fc.constant(600_000), fc.constant(600_001), fc.constant(1.5)))
    },
    { requiredKeys: [] }
  )
)
const invokeResultParams = fc.oneof(
  anything,
  fc.record(
    {
      id: field(text),
      nodeId: field(text),
      ok: field(fc.boolean()),
      payload: field(fc.object({ maxDepth: 1 })),
      payloadJSON: field(fc.oneof(fc.constant(null), text)),
      error: field(fc.oneof(fc.record({ code: field(text), message: field(text) }, { requiredKeys: [] }), fc.constant([])))
    },
    { requiredKeys: [] }
  )
)

/** Accepted or refused alike, and when accepted, the same value (keys holding `undefined` are the same as absent). */
const agree = <A>(hand: Either.Either<A, unknown>, schema: Either.Either<A, unknown>) => {
  expect(Either.isRight(hand)).toBe(Either.isRight(schema))
  if (Either.isRight(hand) && Either.isRight(schema))
    expect(JSON.parse(JSON.stringify(hand.right))).toEqual(JSON.parse(JSON.stringify(schema.right)))
}

describe("the method table", () => {
  it("the node.invoke hand decoder accepts exactly what its schema accepts", () => {
    const schema = Schema.decodeUnknownEither(Nodes.InvokeParams)
    fc.assert(
      fc.property(invokeParams, (p) => agree(decodeNodeInvoke(p), schema(p ?? {}))),
      { numRuns: 5_000 }
    )
  })

  it("the node.invoke.result hand decoder accepts exactly what its schema accepts", () => {
    const schema = Schema.decodeUnknownEither(Nodes.InvokeResultParams)
    fc.assert(
      fc.property(invokeResultParams, (p) => agree(decodeNodeInvokeResult(p), schema(p ?? {}))),
      { numRuns: 5_000 }
    )
  })

  it("every core method names itself, and requirements come from the table (an undeclared method is admin-only)", () => {
    for (const [name, m] of Object.entries(Methods)) {
      expect(m.name).toBe(name)
      expect(requirementOf(name)).toBe(m.requires)
    }
    expect(requirementOf("no.such.method")).toEqual({ _tag: "Scope", scope: "operator.admin" })
  })

  it.effect("an extension method is decoded and authorised from its declaration", () =>
    Effect.gen(function* () {
      const Echo = method("team.echo", {
        requires: requiresScope("operator.write"),
        params: Schema.Struct({ text: Schema.String.pipe(Schema.maxLength(8)) }),
        result: Schema.Struct({ echoed: Schema.String })
      })
      const dispatcher = makeDispatcher([serve(Echo, (p) => Effect.succeed({ echoed: p.text }))])
      const ctx = (scopes: Array<string>): CallContext => ({ connId: "c", role: "operator", scopes, interim: () => Effect.void })
      expect(dispatcher.methods).toEqual(["team.echo"])
      expect(yield* dispatcher.dispatch(ctx(["operator.write"]), "team.echo", { text: "hi" })).toEqual({ echoed: "hi" })
      const forbidden = yield* Effect.flip(dispatcher.dispatch(ctx(["operator.read"]), "team.echo", { text: "hi" }))
      expect(forbidden.code).toBe("FORBIDDEN")
      expect(forbidden.message).toBe("missing scope: operator.write")
      const invalid = yield* Effect.flip(dispatcher.dispatch(ctx(["operator.write"]), "team.echo", { text: "far too long" }))
      expect(invalid.code).toBe("INVALID_REQUEST")
      expect(invalid.message).toContain("invalid team.echo params: text:")
      const unknown = yield* Effect.flip(dispatcher.dispatch(ctx(["operator.admin"]), "team.other", {}))
      expect(unknown.message).toBe("unknown method: team.other")
      // The fast path is only for methods that declare one.
      expect(dispatcher.unsafeDispatch(ctx(["operator.write"]), "team.echo", { text: "hi" }, () => {})).toBe(false)
    })
  )

  it("a client keeps the fields a result schema does not name, and names the field that is wrong", () => {
    const decode = resultDecoder(Methods["sessions.reset"])
    expect(decode({ ok: true, key: "k", sessionId: "s", extra: 1 })).toEqual(Either.right({ ok: true, key: "k", sessionId: "s", extra: 1 }))
    const bad = decode({ ok: true, key: "k" })
    expect(Either.isLeft(bad) && bad.left.map((i) => i.path.join(".")).includes("sessionId")).toBe(true)
  })
})

describe("GatewayClientTest", () => {
  it.effect("a program's call of a method the test did not script is a defect that names it", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.flatMap(GatewayClient, (c) => c.call(Methods.status)))
      expect(Exit.isFailure(exit) && Exit.causeOption(exit)._tag === "Some").toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain('the program called "status", which this test did not script')
    }).pipe(Effect.provide(GatewayClientTest({ health: () => Effect.succeed({ ok: true, ts: 1 }) })))
  )

  it.effect("scripted events reach a program: the agent's reply streams in as chat deltas", () => {
    const release = Effect.runSync(Deferred.make<void>())
    return Effect.gen(function* () {
      const script = yield* GatewayClientScript
      const deltas: Array<string> = []
      const run = yield* Effect.fork(agent({ message: "hi", wait: true, onDelta: (t) => deltas.push(t) }))
      const [call] = yield* script.awaitCalls("agent")
      const runId = (call!.params as { idempotencyKey: string }).idempotencyKey
      yield* script.emit("chat", { runId: "someone-else", state: "delta", message: { content: [{ text: "not mine" }] } })
      yield* script.emit("chat", { runId, state: "delta", message: { content: [{ text: "Hel" }] } })
      yield* script.emit("chat", { runId, state: "delta", message: { content: [{ text: "Hello" }] } })
      // A positive signal: both of this run's deltas were shown; then the Gateway's final answer comes.
      while (deltas.length < 2) yield* Effect.yieldNow()
      yield* Deferred.succeed(release, undefined)
      const reply = yield* Effect.fromFiber(run)
      expect(deltas).toEqual(["Hel", "Hello"])
      expect(reply.result?.text).toBe("Hello")
    }).pipe(
      Effect.provide(
        GatewayClientTest({
          agent: () => Effect.as(Deferred.await(release), { runId: "r", status: "ok", result: { text: "Hello", toolCalls: 0 } })
        })
      )
    )
  })
})

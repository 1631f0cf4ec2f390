/**
 * An operator connected to a test Gateway through the real remote client
 * (`connectRemote`: the handshake, correlation and result decoding the CLI
 * uses), with every event it receives kept in order, so a test waits for the
 * one it expects (a positive signal) instead of sleeping. It has a scope of
 * its own: `close` drops the connection while the test goes on.
 */
import { Effect, Exit, Redacted, Scope, Stream } from "effect"
import { connectRemote } from "../../src/layers/GatewayClientRemote.js"
import { callThrough } from "../../src/layers/clientCall.js"
import type { EventFrame } from "../../src/protocol/frames.js"
import type { RemoteConnection } from "../../src/services/GatewayClient.js"
import { TOKEN, type TestGateway } from "./gateway.js"

export interface TestOperator {
  readonly connection: RemoteConnection
  readonly call: ReturnType<typeof callThrough>
  /** Every event received so far, oldest first. */
  readonly events: Array<EventFrame>
  /** The first event (from `from` on) matching `pred`, waiting up to `timeoutMs`. */
  readonly waitEvent: (pred: (e: EventFrame) => boolean, options?: { from?: number; timeoutMs?: number }) => Effect.Effect<EventFrame>
  readonly close: Effect.Effect<void>
}

export const connectOperator = (
  gw: Pick<TestGateway, "url">,
  options: { readonly scopes?: ReadonlyArray<string>; readonly token?: string; readonly tlsFingerprint?: string } = {}
): Effect.Effect<TestOperator, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const connection = yield* connectRemote({
      target: {
        url: gw.url,
        urlSource: "--url",
        mode: "remote",
        token: Redacted.make(options.token ?? TOKEN),
        ...(options.tlsFingerprint !== undefined ? { tlsFingerprint: options.tlsFingerprint } : {})
      },
      scopes: options.scopes ?? ["operator.admin"]
    }).pipe(Scope.extend(scope))
    const events: Array<EventFrame> = []
    yield* Stream.runForEach(connection.events, (e) => Effect.sync(() => void events.push(e))).pipe(Effect.forkIn(scope))
    const waitEvent: TestOperator["waitEvent"] = (pred, o = {}) =>
      Effect.gen(function* () {
        const deadline = Date.now() + (o.timeoutMs ?? 5_000)
        for (;;) {
          const hit = events.slice(o.from ?? 0).find(pred)
          if (hit !== undefined) return hit
          if (Date.now() > deadline) {
            return yield* Effect.dieMessage(`no matching event; got ${JSON.stringify(events.map((e) => [e.event, e.payload]))}`)
          }
          yield* Effect.sleep("10 millis")
        }
      })
    return { connection, call: callThrough(connection.request), events, waitEvent, close: Scope.close(scope, Exit.void) }
  })

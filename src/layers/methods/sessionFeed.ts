/**
 * The session subscriptions of connections: `sessions.subscribe` (every
 * session's `sessions.changed`) and `sessions.messages.subscribe {key}` (that
 * session's `session.message` per appended transcript entry). Each is held by
 * the connection that asked and released with its Scope, so a closed
 * connection holds nothing; at most MAX_MESSAGE_SUBSCRIPTIONS keys each.
 *
 * The store tells every committed change (Sessions.changes) in the writer's
 * fiber; a change nobody follows is dropped there, the rest are queued and
 * sent, in commit order, by one fiber that lives as long as the Dispatcher.
 * Events go through the EventBus to one connection each, so the transport's
 * checks (connected, operator.read) apply as to every event.
 */
import { Effect, Queue, Scope } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { SessionMethods } from "../../protocol/methods.js"
import type { CallContext } from "../../services/Dispatcher.js"
import { EventBus } from "../../services/EventBus.js"
import { Sessions, type SessionChange } from "../../services/Sessions.js"
import { historyMessage, messageId, sessionRow } from "./sessionRows.js"

/** Changes waiting to be sent; past this (a stalled store read) the newest are dropped and a page catches up with chat.history. */
const MAX_QUEUED_CHANGES = 10_000

export const makeSessionFeed = Effect.gen(function* () {
  const sessions = yield* Sessions
  const bus = yield* EventBus

  /** Connections that follow every session (`sessions.changed`). */
  const everything = new Set<string>()
  /** Connections that follow a session's messages, by key; and each connection's keys. */
  const byKey = new Map<string, Set<string>>()
  const keysOf = new Map<string, Set<string>>()
  /** Connections whose Scope already releases what they hold. */
  const held = new Set<string>()

  const release = (connId: string) =>
    Effect.suspend(() => {
      const keys = keysOf.get(connId)
      const had = everything.delete(connId) || (keys !== undefined && keys.size > 0)
      for (const key of keys ?? []) {
        const subscribers = byKey.get(key)
        subscribers?.delete(connId)
        if (subscribers?.size === 0) byKey.delete(key)
      }
      keysOf.delete(connId)
      held.delete(connId)
      return had ? Effect.logInfo(`session subscriptions of ${connId} released`) : Effect.void
    })

  /** Ties what `ctx`'s connection holds to its Scope (once); false for a caller without a connection. */
  const hold = (ctx: CallContext) =>
    Effect.gen(function* () {
      const scope = ctx.scope
      if (scope === undefined) return false
      if (!held.has(ctx.connId)) {
        held.add(ctx.connId)
        // On a scope already closed (the connection went meanwhile) this runs at once.
        yield* Scope.addFinalizer(scope, release(ctx.connId))
      }
      return held.has(ctx.connId)
    })

  const queue = yield* Effect.acquireRelease(Queue.dropping<SessionChange>(MAX_QUEUED_CHANGES), Queue.shutdown)
  yield* sessions.changes((change) => {
    if (everything.size > 0 || (change._tag === "Appended" && byKey.has(change.key))) queue.unsafeOffer(change)
  })

  const send = (connIds: Iterable<string>, event: string, payload: unknown) =>
    Effect.forEach([...connIds], (connId) => bus.publish({ event, payload, connId, scope: "operator.read" }), { discard: true })

  const deliver = (change: SessionChange) =>
    Effect.gen(function* () {
      const { key } = change
      const followers = byKey.get(key)
      if (change._tag === "Appended" && followers !== undefined) {
        for (const entry of change.entries) {
          const message = historyMessage(entry)
          yield* send(followers, "session.message", {
            sessionKey: key,
            sessionId: entry.sessionId,
            message,
            messageId: message.id,
            messageSeq: entry.seq,
            ...(entry.runId !== undefined ? { runId: entry.runId } : {})
          })
        }
      }
      if (everything.size === 0) return
      const ts = Date.now()
      if (change._tag === "Deleted") return yield* send(everything, "sessions.changed", { sessionKey: key, reason: "delete", ts })
      // The row after the change (counts, last text), read once for every subscriber.
      const info = yield* sessions.get(key).pipe(
        Effect.map((o) => (o._tag === "Some" ? o.value : undefined)),
        Effect.catchAll((e) => Effect.as(Effect.logWarning(`sessions.changed for ${key}: row not read: ${e.message}`), undefined))
      )
      const last = change._tag === "Appended" ? change.entries[change.entries.length - 1] : undefined
      yield* send(everything, "sessions.changed", {
        sessionKey: key,
        ...(info !== undefined ? { agentId: info.agentId } : {}),
        ...(change._tag === "Created" ? { reason: "create" } : change._tag === "Reset" ? { reason: "reset" } : { phase: "message" }),
        ts,
        ...(info !== undefined ? { session: sessionRow(info) } : {}),
        ...(last !== undefined ? { messageId: messageId(last), messageSeq: last.seq } : {})
      })
    })

  yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), deliver)))

  return {
    /** `sessions.subscribe`: whether this connection now follows every session. */
    subscribeAll: (ctx: CallContext) =>
      Effect.map(hold(ctx), (ok) => {
        if (ok) everything.add(ctx.connId)
        return ok
      }),
    unsubscribeAll: (ctx: CallContext) => Effect.sync(() => void everything.delete(ctx.connId)),
    /** `sessions.messages.subscribe`: whether this connection now follows `key`'s messages. */
    subscribeKey: (ctx: CallContext, key: string) =>
      Effect.gen(function* () {
        const keys = keysOf.get(ctx.connId) ?? new Set<string>()
        if (!keys.has(key) && keys.size >= SessionMethods.MAX_MESSAGE_SUBSCRIPTIONS) {
          return yield* GatewayError.invalidRequest(
            `too many session subscriptions on this connection (at most ${SessionMethods.MAX_MESSAGE_SUBSCRIPTIONS}): sessions.messages.unsubscribe one first`,
            { code: "SUBSCRIPTION_LIMIT", limit: SessionMethods.MAX_MESSAGE_SUBSCRIPTIONS }
          )
        }
        if (!(yield* hold(ctx))) return false
        keys.add(key)
        keysOf.set(ctx.connId, keys)
        const subscribers = byKey.get(key) ?? new Set<string>()
        subscribers.add(ctx.connId)
        byKey.set(key, subscribers)
        return true
      }),
    unsubscribeKey: (ctx: CallContext, key: string) =>
      Effect.sync(() => {
        keysOf.get(ctx.connId)?.delete(key)
        const subscribers = byKey.get(key)
        subscribers?.delete(ctx.connId)
        if (subscribers?.size === 0) byKey.delete(key)
      })
  }
})

export type SessionFeed = Effect.Effect.Success<typeof makeSessionFeed>

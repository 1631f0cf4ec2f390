/**
 * A Telegram Bot API double on loopback: enough of `api.telegram.org` for
 * grammy (pointed at it with `apiRoot`). It serves `getMe`, long-polls
 * `getUpdates` (holds the request until an update is queued or the timeout
 * passes, and forgets updates below the offset, as Telegram does), records
 * `sendMessage` and `setWebhook`/`deleteWebhook`, and can answer the next
 * calls of a method with an error (429 with `retry_after`, 500, ...).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export const TEST_BOT_TOKEN = "123456789:AAH-test-token-for-the-double_0123456"
export const TEST_BOT_ID = 123456789
export const TEST_BOT_USERNAME = "clawgate_test_bot"

export interface SentMessage {
  readonly chat_id: number | string
  readonly text: string
  readonly message_id: number
  readonly at: number
}

export interface ApiCall {
  readonly method: string
  readonly params: Record<string, unknown>
  readonly at: number
}

export interface Failure {
  readonly error_code: number
  readonly description: string
  readonly retry_after?: number
}

export interface TextUpdate {
  readonly chatId: number
  readonly fromId?: number
  readonly username?: string
  readonly text?: string
  readonly chatType?: "private" | "group"
}

export interface BotApiDouble {
  /** What to put in `channels.telegram.apiRoot`. */
  readonly apiRoot: string
  readonly token: string
  /** Queues a raw update; returns its update_id. */
  readonly push: (update: Record<string, unknown>) => number
  /** Queues an update again as if Telegram never got its confirmation (a Gateway killed before its next poll). */
  readonly replay: (updateId: number) => void
  /** Queues a message update (text, or a photo when `text` is undefined); returns its update_id. */
  readonly pushMessage: (m: TextUpdate) => number
  readonly sent: Array<SentMessage>
  readonly calls: Array<ApiCall>
  /** The next `count` calls of `method` are answered with `failure`. */
  readonly failNext: (method: string, count: number, failure: Failure) => void
  /** Every call of `method` fails until `recover(method)`. */
  readonly failAlways: (method: string, failure: Failure) => void
  readonly recover: (method: string) => void
  /** Resolves once `predicate` holds (checked every 10 ms), or rejects after `timeoutMs`. */
  readonly waitFor: (predicate: () => boolean, timeoutMs?: number, what?: string) => Effect.Effect<void, Error>
}

const chat = (m: TextUpdate) =>
  m.chatType === "group"
    ? { id: m.chatId, type: "group", title: "A group" }
    : { id: m.chatId, type: "private", first_name: "Test", ...(m.username ? { username: m.username } : {}) }

export const startBotApiDouble = (token = TEST_BOT_TOKEN): Effect.Effect<BotApiDouble, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ double: BotApiDouble; server: http.Server; close: () => void }>((resume) => {
      const updates: Array<Record<string, unknown> & { update_id: number }> = []
      const sent: Array<SentMessage> = []
      const calls: Array<ApiCall> = []
      const failures = new Map<string, { count: number; failure: Failure }>()
      const waiters = new Set<() => void>()
      let nextUpdateId = 1000
      let nextMessageId = 1
      let closed = false

      const history = new Map<number, Record<string, unknown> & { update_id: number }>()
      const push = (update: Record<string, unknown>) => {
        const update_id = nextUpdateId++
        history.set(update_id, { ...update, update_id })
        updates.push({ ...update, update_id })
        for (const w of [...waiters]) w()
        return update_id
      }
      const pushMessage = (m: TextUpdate) =>
        push({
          message: {
            message_id: nextMessageId++,
            date: Math.floor(Date.now() / 1000),
            chat: chat(m),
            from: { id: m.fromId ?? m.chatId, is_bot: false, first_name: "Test", ...(m.username ? { username: m.username } : {}) },
            ...(m.text !== undefined ? { text: m.text } : { photo: [{ file_id: "f", file_unique_id: "u", width: 1, height: 1 }] })
          }
        })

      const reply = (res: http.ServerResponse, status: number, body: unknown) => {
        if (res.writableEnded) return
        res.writeHead(status, { "content-type": "application/json" })
        res.end(JSON.stringify(body))
      }
      const ok = (res: http.ServerResponse, result: unknown) => reply(res, 200, { ok: true, result })

      const handle = (method: string, params: Record<string, unknown>, res: http.ServerResponse) => {
        calls.push({ method, params, at: Date.now() })
        const failing = failures.get(method)
        if (failing && failing.count > 0) {
          failing.count--
          const { retry_after, ...rest } = failing.failure
          return reply(res, failing.failure.error_code, {
            ok: false,
            ...rest,
            ...(retry_after !== undefined ? { parameters: { retry_after } } : {})
          })
        }
        switch (method) {
          case "getMe":
            return ok(res, { id: TEST_BOT_ID, is_bot: true, first_name: "Clawgate test", username: TEST_BOT_USERNAME })
          case "deleteWebhook":
          case "setWebhook":
            return ok(res, true)
          case "sendMessage": {
            const text = String(params.text ?? "")
            if (text.length === 0) return reply(res, 400, { ok: false, error_code: 400, description: "Bad Request: message text is empty" })
            if (text.length > 4096) return reply(res, 400, { ok: false, error_code: 400, description: "Bad Request: message is too long" })
            const message_id = nextMessageId++
            sent.push({ chat_id: params.chat_id as number | string, text, message_id, at: Date.now() })
            return ok(res, { message_id, date: Math.floor(Date.now() / 1000), chat: { id: params.chat_id, type: "private" }, text })
          }
          case "getUpdates": {
            const offset = typeof params.offset === "number" ? params.offset : undefined
            // As Telegram: an offset confirms (forgets) every update below it.
            if (offset !== undefined) {
              while (updates.length > 0 && updates[0]!.update_id < offset) updates.shift()
            }
            const timeoutMs = (typeof params.timeout === "number" ? params.timeout : 0) * 1000
            const answer = () => ok(res, updates.slice(0, 100))
            if (updates.length > 0 || timeoutMs === 0) return answer()
            const done = () => {
              waiters.delete(done)
              clearTimeout(timer)
              answer()
            }
            const timer = setTimeout(done, timeoutMs)
            waiters.add(done)
            // The client gave up (an aborted poll): forget it. (`req` emits close as soon as its body is read.)
            res.on("close", () => {
              waiters.delete(done)
              clearTimeout(timer)
            })
            return
          }
          default:
            return reply(res, 404, { ok: false, error_code: 404, description: "Not Found: method not found" })
        }
      }

      const server = http.createServer((req, res) => {
        const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec((req.url ?? "").split("?")[0]!)
        let body = ""
        req.on("data", (d) => (body += d))
        req.on("end", () => {
          if (closed) return reply(res, 503, { ok: false, error_code: 503, description: "closing" })
          if (!m) return reply(res, 404, { ok: false, error_code: 404, description: "Not Found" })
          if (m[1] !== token) return reply(res, 401, { ok: false, error_code: 401, description: "Unauthorized" })
          let params: Record<string, unknown> = {}
          try {
            params = body ? (JSON.parse(body) as Record<string, unknown>) : {}
          } catch {
            return reply(res, 400, { ok: false, error_code: 400, description: "Bad Request: body is not JSON" })
          }
          handle(m[2]!, params, res)
        })
      })

      const waitFor: BotApiDouble["waitFor"] = (predicate, timeoutMs = 10_000, what = "condition") =>
        Effect.async<void, Error>((resume) => {
          const started = Date.now()
          const tick = setInterval(() => {
            if (predicate()) {
              clearInterval(tick)
              resume(Effect.void)
            } else if (Date.now() - started > timeoutMs) {
              clearInterval(tick)
              resume(Effect.fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)))
            }
          }, 10)
          return Effect.sync(() => clearInterval(tick))
        })

      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(
          Effect.succeed({
            server,
            close: () => {
              closed = true
              for (const w of [...waiters]) w()
            },
            double: {
              apiRoot: `http://127.0.0.1:${port}`,
              token,
              push,
              pushMessage,
              replay: (updateId) => {
                const u = history.get(updateId)
                if (!u || updates.some((q) => q.update_id === updateId)) return
                updates.push(u)
                updates.sort((a, b) => a.update_id - b.update_id)
              },
              sent,
              calls,
              failNext: (method, count, failure) => void failures.set(method, { count, failure }),
              failAlways: (method, failure) => void failures.set(method, { count: Number.POSITIVE_INFINITY, failure }),
              recover: (method) => void failures.delete(method),
              waitFor
            }
          })
        )
      })
    }),
    ({ server, close }) =>
      Effect.async<void>((resume) => {
        close()
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map(({ double }) => double))

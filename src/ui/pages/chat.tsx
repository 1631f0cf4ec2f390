/**
 * WebChat: the session list, the open session's transcript, and a composer
 * that sends with `chat.send` (an idempotency key per message), the reply
 * streaming in from `chat` and `agent` events, and Abort (`chat.abort`)
 * while a run goes on.
 *
 * After every (re)connect the open session's history is loaded again and
 * merged by entry identity (chat-transcript.ts): nothing lost, nothing
 * twice. A run still going keeps streaming (its events reach every operator
 * connection); one that ended while the socket was down is found with
 * `agent.wait`. Nothing is ever sent again by itself.
 */
import { useComputed, useSignal } from "@preact/signals"
import { useEffect, useRef } from "preact/hooks"
import type { TargetedKeyboardEvent, TargetedSubmitEvent } from "preact"
import { randomId } from "../client/random.js"
import { routeHref } from "../client/routes.js"
import { CallError, CONNECTION_LOST, type UiClient } from "../client/types.js"
import { Button } from "../components/Button.js"
import { useConnected, useGatewayEvent } from "../components/hooks.js"
import { ErrorNote, messageOf } from "../components/States.js"
import { Badge } from "../components/StatusPill.js"
import { Time } from "../components/Time.js"
import { Messages } from "./chat-messages.js"
import { newSessionKey, readSessions, type SessionItem, sessionTitle, visibleSessions } from "./chat-sessions.js"
import {
  addOutgoing,
  applyAgentEvent,
  applyChatEvent,
  dropRun,
  emptyTranscript,
  endRun,
  isNewRun,
  mergeHistory,
  type Outgoing,
  readHistory,
  runningRuns,
  startRun,
  type Transcript,
  updateOutgoing
} from "./chat-transcript.js"

const MAX_MESSAGE = 200_000
const DEFAULT_MAIN = "agent:main:main"

export interface ChatPageProps {
  readonly client: UiClient
  /** The session key from the route (`#/chat/<key>`); the main session when absent. */
  readonly sessionKey?: string | undefined
}

/** After this much quiet, a burst of "something changed" becomes one reload. */
const debounce = (f: () => void, ms: number) => {
  let t: ReturnType<typeof setTimeout> | undefined
  const run = () => {
    if (t !== undefined) clearTimeout(t)
    t = setTimeout(() => {
      t = undefined
      f()
    }, ms)
  }
  run.cancel = () => t !== undefined && clearTimeout(t)
  return run
}

export const ChatPage = ({ client, sessionKey }: ChatPageProps) => {
  const hello = client.state.value._tag === "connected" ? client.state.value.hello : undefined
  const defaults = useRef(hello?.snapshot.sessionDefaults)
  if (hello?.snapshot.sessionDefaults) defaults.current = hello.snapshot.sessionDefaults
  const mainKey = defaults.current?.mainSessionKey ?? DEFAULT_MAIN
  const openKey = sessionKey ?? mainKey

  const rows = useSignal<ReadonlyArray<SessionItem>>([])
  const drafts = useSignal<ReadonlyArray<SessionItem>>([])
  const query = useSignal("")
  const listError = useSignal<unknown>(undefined)
  const transcript = useSignal<Transcript>(emptyTranscript(openKey))
  const historyError = useSignal<unknown>(undefined)
  const loading = useSignal(false)
  const draft = useSignal("")
  const sendError = useSignal<string | undefined>(undefined)
  const abortError = useSignal<unknown>(undefined)
  const announce = useSignal("")
  const listOpen = useSignal(false)
  const cache = useRef(new Map<string, Transcript>())
  const scroller = useRef<HTMLDivElement>(null)
  const stick = useRef(true)

  const connected = client.state.value._tag === "connected"
  const canWrite = client.can("operator.write")

  // The transcript of the open session; switching keeps the last few in memory so coming back shows them at once.
  if (transcript.peek().sessionKey !== openKey) {
    const prev = transcript.peek()
    cache.current.set(prev.sessionKey, prev)
    if (cache.current.size > 10) cache.current.delete(cache.current.keys().next().value as string)
    transcript.value = cache.current.get(openKey) ?? emptyTranscript(openKey)
    historyError.value = undefined
    sendError.value = undefined
    abortError.value = undefined
  }

  const loadSessions = async () => {
    try {
      rows.value = readSessions(await client.call("sessions.list", { limit: 500 }))
      listError.value = undefined
    } catch (e) {
      listError.value = e
    }
  }

  const loadHistory = async (key = openKey) => {
    loading.value = true
    try {
      const h = readHistory(await client.call("chat.history", { sessionKey: key, limit: 200 }), key)
      if (transcript.peek().sessionKey === key) transcript.value = mergeHistory(transcript.peek(), h)
      historyError.value = undefined
    } catch (e) {
      // A chat started here has no session on the Gateway until its first message.
      if (e instanceof CallError && e.detailCode === "UNKNOWN_SESSION") historyError.value = undefined
      else if (transcript.peek().sessionKey === key) historyError.value = e
    } finally {
      loading.value = false
    }
  }

  /** Runs shown as going whose end was missed while the socket was down: asked about once per reconnect. */
  const settleRuns = async () => {
    for (const run of runningRuns(transcript.peek())) {
      try {
        const r = (await client.call("agent.wait", { runId: run.runId, timeoutMs: 1 })) as { status?: unknown; summary?: unknown }
        if (r.status === "ok") transcript.value = endRun(transcript.peek(), run.runId, "ok")
        else if (r.status === "error")
          transcript.value = endRun(
            transcript.peek(),
            run.runId,
            "error",
            typeof r.summary === "string" ? r.summary.slice(0, 2000) : undefined
          )
      } catch {
        // An unknown runId (a send that never arrived): the outbox row says so.
      }
    }
  }

  const reloadHistory = useRef(debounce(() => void loadHistory(), 250))
  const reloadSessions = useRef(debounce(() => void loadSessions(), 1000))
  useEffect(() => {
    reloadHistory.current = debounce(() => void loadHistory(openKey), 250)
    return () => reloadHistory.current.cancel()
  }, [openKey])

  useConnected(client, () => {
    void loadSessions()
    void loadHistory(openKey).then(settleRuns)
  })
  // Another session opened while connected loads at once (the first is loaded by useConnected).
  const shownKey = useRef(openKey)
  useEffect(() => {
    if (shownKey.current === openKey) return
    shownKey.current = openKey
    if (client.state.peek()._tag === "connected") void loadHistory(openKey)
  }, [openKey])

  useGatewayEvent(client, "chat", (e) => {
    const p = e.payload as { sessionKey?: unknown; state?: unknown } | undefined
    const t = transcript.peek()
    if (p?.sessionKey === t.sessionKey) {
      // A run started elsewhere (another browser, a channel): its user message is in history.
      if (isNewRun(t, p)) reloadHistory.current()
      transcript.value = applyChatEvent(t, p, Date.now())
      if (p.state === "final" || p.state === "aborted" || p.state === "error") {
        void loadHistory(t.sessionKey)
        if (p.state === "final") announce.value = "Reply received"
      }
    }
    if (p?.state !== "delta") reloadSessions.current()
  })
  useGatewayEvent(client, "agent", (e) => {
    transcript.value = applyAgentEvent(transcript.peek(), e.payload, Date.now())
  })

  // Follow the conversation when it grows, unless the reader scrolled up.
  useEffect(() => {
    const el = scroller.current
    if (el && stick.current) el.scrollTop = el.scrollHeight
  })

  const send = (text: string, key = randomId()) => {
    const sessionKey = transcript.peek().sessionKey
    transcript.value = addOutgoing(transcript.peek(), { key, text, ts: Date.now() })
    stick.current = true
    client.call("chat.send", { sessionKey, message: text, idempotencyKey: key }).then(
      (r) => {
        const status = (r as { status?: unknown }).status
        let t = updateOutgoing(transcript.peek(), key, { status: "accepted" })
        if (status === "started" || status === "in_flight") t = startRun(t, key, Date.now())
        if (t.sessionKey === sessionKey) transcript.value = t
        // The session exists on the Gateway now.
        drafts.value = drafts.peek().filter((d) => d.key !== sessionKey)
        reloadSessions.current()
      },
      (e: unknown) => {
        // Cut off by a drop or unanswered: whether the Gateway got it shows in history after the reconnect.
        const lost = e instanceof CallError && (e.detailCode === CONNECTION_LOST || e.code === "TIMEOUT")
        const t = updateOutgoing(transcript.peek(), key, lost ? { status: "unconfirmed" } : { status: "failed", error: messageOf(e) })
        if (t.sessionKey === sessionKey) transcript.value = t
      }
    )
  }

  const submit = (e?: TargetedSubmitEvent<HTMLFormElement>) => {
    e?.preventDefault()
    const text = draft.value.trim()
    if (text === "") return
    if (text.length > MAX_MESSAGE) {
      sendError.value = `The message is ${text.length} characters long; the Gateway takes at most ${MAX_MESSAGE}. Shorten it or send it in parts.`
      return
    }
    if (!connected) {
      sendError.value = "Not connected: the message stays here until the page reconnects."
      return
    }
    sendError.value = undefined
    draft.value = ""
    send(text)
  }

  const onKeyDown = (e: TargetedKeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      submit()
    }
  }

  const retry = (o: Outgoing) => {
    if (!connected) {
      sendError.value = "Not connected: send again once the page reconnects."
      return
    }
    // The same idempotency key: if the Gateway did get it the first time, it does not run it twice.
    send(o.text, o.key)
  }

  const abort = async () => {
    abortError.value = undefined
    try {
      await client.call("chat.abort", { sessionKey: transcript.peek().sessionKey })
    } catch (e) {
      abortError.value = e
    }
  }

  const newChat = () => {
    const key = newSessionKey(defaults.current?.defaultAgentId ?? "main", randomId())
    drafts.value = [{ key, updatedAt: Date.now(), messageCount: 0, draft: true }, ...drafts.peek()].slice(0, 20)
    listOpen.value = false
    location.hash = routeHref("chat", key)
  }

  const sessions = useComputed(() => visibleSessions(rows.value, drafts.value, openKey, query.value))
  const t = transcript.value
  const running = runningRuns(t).length > 0
  const openItem = sessions.value.find((s) => s.key === openKey)
  const title = sessionTitle(openItem ?? { key: openKey }, mainKey)

  return (
    <div class="chat">
      <aside class={`chat-sessions${listOpen.value ? " open" : ""}`} aria-label="Chats" id="chat-sessions">
        <div class="chat-sessions-head">
          <h2>Chats</h2>
          <Button kind="primary" onClick={newChat}>
            New chat
          </Button>
          <Button class="chat-list-close" onClick={() => (listOpen.value = false)}>
            Close
          </Button>
        </div>
        <label class="field">
          <span>Search chats</span>
          <input type="search" value={query.value} onInput={(e) => (query.value = e.currentTarget.value)} placeholder="Key or label" />
        </label>
        {listError.value ? <ErrorNote error={listError.value} onRetry={() => void loadSessions()} /> : null}
        <ul class="session-list">
          {sessions.value.map((s) => (
            <li key={s.key}>
              <a
                href={routeHref("chat", s.key)}
                aria-current={s.key === openKey ? "true" : undefined}
                onClick={() => (listOpen.value = false)}
                title={s.key}
              >
                <span class="session-title">{sessionTitle(s, mainKey)}</span>
                <span class="session-meta">
                  {s.channel ? <Badge title={`channel: ${s.channel}`}>{s.channel}</Badge> : null}
                  {s.updatedAt > 0 && s.updatedAt < Number.MAX_SAFE_INTEGER ? <Time ms={s.updatedAt} /> : null}
                </span>
                {s.lastText ? <span class="session-last">{s.lastText}</span> : null}
              </a>
            </li>
          ))}
          {sessions.value.length === 0 ? <li class="muted">No chat matches “{query.value}”.</li> : null}
        </ul>
      </aside>

      <section class="chat-main" aria-labelledby="chat-title">
        <div class="chat-head">
          <Button
            kind="secondary"
            class="chat-list-toggle"
            aria-expanded={listOpen.value}
            aria-controls="chat-sessions"
            onClick={() => (listOpen.value = !listOpen.value)}
          >
            Chats
          </Button>
          <h1 id="chat-title" title={openKey}>
            {title}
          </h1>
          {openItem?.channel ? <Badge>{openItem.channel}</Badge> : null}
        </div>

        <div
          class="chat-scroll"
          ref={scroller}
          onScroll={(e) => {
            const el = e.currentTarget
            stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80
          }}
        >
          {historyError.value ? <ErrorNote error={historyError.value} onRetry={() => void loadHistory()} /> : null}
          {t.entries.length === 0 && t.outbox.length === 0 && t.runs.length === 0 && !historyError.value ? (
            <p class="muted chat-empty">{loading.value ? "Loading the conversation…" : "No messages yet. Say something below."}</p>
          ) : null}
          <div role="log" aria-label="Conversation" aria-live="off">
            <Messages t={t} onRetry={retry} onDismiss={(runId) => (transcript.value = dropRun(transcript.peek(), runId))} />
          </div>
        </div>
        <p class="sr-only" aria-live="polite">
          {announce.value}
        </p>

        <form class="composer" onSubmit={submit}>
          <label for="composer-input" class="sr-only">
            Message
          </label>
          <textarea
            id="composer-input"
            rows={2}
            value={draft.value}
            onInput={(e) => (draft.value = e.currentTarget.value)}
            onKeyDown={onKeyDown}
            placeholder={canWrite ? "Message the agent…" : "Read-only"}
            disabled={!canWrite}
            aria-describedby="composer-note"
          />
          <div class="composer-actions">
            {running ? (
              <Button kind="danger" onClick={() => void abort()}>
                Abort
              </Button>
            ) : null}
            <Button kind="primary" type="submit" disabled={!canWrite || !connected || draft.value.trim() === ""}>
              Send
            </Button>
          </div>
          <p id="composer-note" class="composer-note" role={sendError.value ? "alert" : undefined}>
            {sendError.value ??
              (!canWrite
                ? "This browser's device may read but not send (it lacks operator.write): approve a scope upgrade for it on the Devices page."
                : !connected
                  ? "Not connected: you can send once the page reconnects."
                  : "Enter sends; Shift+Enter starts a new line.")}
          </p>
          {abortError.value ? <ErrorNote error={abortError.value} onRetry={() => void abort()} /> : null}
        </form>
      </section>
    </div>
  )
}

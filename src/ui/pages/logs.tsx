/**
 * Logs: a live tail of the Gateway's log file over logs.tail, polled every
 * 1.5 s while the page is visible and not paused, at most MAX_LOG_ENTRIES
 * lines kept; filtered by level and text; following the end until the
 * person scrolls up. A rotated file (`reset`) and skipped lines (`truncated`)
 * are said in the tail itself.
 */
import { useSignal } from "@preact/signals"
import { useEffect, useId, useLayoutEffect, useRef } from "preact/hooks"
import type { UiClient } from "../client/types.js"
import { useHello, useVisible } from "./lib/hooks.js"
import {
  applyTail,
  emptyTail,
  filterEntries,
  LEVELS,
  MAX_LOG_ENTRIES,
  readTailAnswer,
  type Level,
  type LogEntry,
  type TailState
} from "./lib/logs.js"
import { Empty, ErrorNote, NotConnected, Page } from "./lib/parts.js"
import { describeError } from "./lib/scopes.js"
import "./pages.css"

export const POLL_MS = 1500
const FIRST_READ = { limit: 500, maxBytes: 256 * 1024 }
const NEXT_READ = { limit: 1000, maxBytes: 512 * 1024 }

const clock = (time: string | undefined): { readonly short: string; readonly full?: string } => {
  if (time === undefined) return { short: "" }
  const d = new Date(time)
  if (Number.isNaN(d.getTime())) return { short: time.slice(0, 24) }
  const pad = (n: number, w = 2) => String(n).padStart(w, "0")
  return {
    short: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`,
    full: d.toLocaleString()
  }
}

const Row = (props: { readonly entry: LogEntry }) => {
  const e = props.entry
  if (e.kind === "notice") return <div class="pg-log-row pg-log-notice">— {e.message} —</div>
  const t = clock(e.time)
  return (
    <div class={`pg-log-row pg-log-${e.level ?? "none"}`}>
      <span class="pg-log-time" title={t.full}>
        {t.short}
      </span>
      <span class="pg-log-level">{e.level ?? ""}</span>
      <span class="pg-log-msg">
        {e.message}
        {e.fields ? <span class="pg-log-fields"> {e.fields}</span> : null}
      </span>
    </div>
  )
}

export const LogsPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const connected = hello.value !== undefined
  const visible = useVisible()
  const tail = useSignal<TailState>(emptyTail)
  const file = useSignal<string | undefined>(undefined)
  const error = useSignal<unknown>(undefined)
  const stopped = useSignal(false) // refused for good (a missing scope): polling waits for "Try again"
  const paused = useSignal(false)
  const follow = useSignal(true)
  const level = useSignal<Level | "">("")
  const text = useSignal("")
  const loaded = useSignal(false)
  const box = useRef<HTMLDivElement>(null)
  const levelId = useId()
  const searchId = useId()
  const followId = useId()

  const polling = connected && visible.value && !paused.value && !stopped.value

  useEffect(() => {
    if (!polling) return
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      const state = tail.peek()
      try {
        const answer = await client.call("logs.tail", state.cursor === undefined ? FIRST_READ : { cursor: state.cursor, ...NEXT_READ })
        if (!live) return
        const read = readTailAnswer(answer)
        if (read === undefined) throw new Error("logs.tail answered something that is not a log tail")
        tail.value = applyTail(tail.peek(), read)
        file.value = read.file || file.peek()
        error.value = undefined
        loaded.value = true
      } catch (e) {
        if (!live) return
        error.value = e
        if (describeError(e).missingScope !== undefined || describeError(e).code === "INVALID_REQUEST") stopped.value = true
      }
      if (live) timer = setTimeout(() => void poll(), POLL_MS)
    }
    void poll()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [polling])

  const all = tail.value.entries
  const shown = filterEntries(all, { level: level.value === "" ? undefined : level.value, text: text.value })

  // Following: after every render that added lines, the end is in view.
  useLayoutEffect(() => {
    const el = box.current
    if (el && follow.value) el.scrollTop = el.scrollHeight
  }, [shown.length, all.length > 0 ? all[all.length - 1]?.id : 0, follow.value])

  const onScroll = () => {
    const el = box.current
    if (!el) return
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24
    if (!atEnd && follow.peek()) follow.value = false
    else if (atEnd && !follow.peek()) follow.value = true
  }

  const state = !connected
    ? "not connected"
    : stopped.value
      ? "stopped"
      : paused.value
        ? "paused"
        : !visible.value
          ? "paused while the page is hidden"
          : "live"

  return (
    <Page
      name="logs"
      title="Logs"
      lede={
        <>
          The Gateway's log file
          {file.value ? (
            <>
              {" "}
              (<code>{file.value}</code>)
            </>
          ) : null}
          , as it is written. <span class="pg-muted">({state})</span>
        </>
      }
    >
      {!connected ? <NotConnected /> : null}
      <div class="pg-toolbar" role="toolbar" aria-label="Log controls">
        <div class="pg-control">
          <label class="pg-label" for={levelId}>
            Level
          </label>
          <select
            id={levelId}
            value={level.value}
            onChange={(e) => {
              level.value = e.currentTarget.value as Level | ""
            }}
          >
            <option value="">All levels</option>
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
        </div>
        <div class="pg-control pg-control-grow">
          <label class="pg-label" for={searchId}>
            Filter logs
          </label>
          <input
            id={searchId}
            type="search"
            placeholder="text in the line"
            value={text.value}
            onInput={(e) => {
              text.value = e.currentTarget.value
            }}
          />
        </div>
        <div class="pg-actions">
          <button
            type="button"
            class="pg-btn"
            onClick={() => {
              paused.value = !paused.value
            }}
          >
            {paused.value ? "Resume" : "Pause"}
          </button>
          <span class="pg-check">
            <input
              id={followId}
              type="checkbox"
              checked={follow.value}
              onChange={(e) => {
                follow.value = e.currentTarget.checked
              }}
            />
            <label for={followId}>Follow</label>
          </span>
          <button
            type="button"
            class="pg-btn"
            onClick={() => {
              tail.value = { ...tail.peek(), entries: [] }
            }}
          >
            Clear
          </button>
        </div>
      </div>
      {error.value !== undefined ? (
        <ErrorNote
          error={error.value}
          method="logs.tail"
          connected={connected}
          {...(stopped.value
            ? {
                onRetry: () => {
                  error.value = undefined
                  stopped.value = false
                }
              }
            : {})}
        />
      ) : null}
      <p class="pg-muted pg-log-count" aria-live="off">
        {shown.length === all.length ? `${all.length} lines` : `${shown.length} of ${all.length} lines match`}
        {all.length >= MAX_LOG_ENTRIES ? ` (the last ${MAX_LOG_ENTRIES} are kept)` : ""}
      </p>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the tail scrolls, and a keyboard user must be able to reach it to scroll it */}
      <div class="pg-log" ref={box} role="log" aria-live="off" aria-label="Log lines" tabIndex={0} onScroll={onScroll}>
        {!loaded.value ? (
          connected && error.value === undefined ? (
            <p class="pg-note">Reading the log…</p>
          ) : null
        ) : shown.length === 0 ? (
          <Empty>{all.length === 0 ? "The log has no lines yet." : "No line matches the filters."}</Empty>
        ) : (
          shown.map((e) => <Row key={e.id} entry={e} />)
        )}
      </div>
    </Page>
  )
}

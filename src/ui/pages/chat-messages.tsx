/**
 * The transcript as the page renders it: user and assistant messages,
 * tool calls and their results (collapsible, distinct from messages), the
 * messages this page is sending, and the replies streaming in. All text is
 * rendered as text (Preact escapes it); nothing is parsed as HTML.
 */
import { Button } from "../components/Button.js"
import { Badge } from "../components/StatusPill.js"
import { Time } from "../components/Time.js"
import { type HistoryEntry, type LiveRun, type LiveTool, liveRemainder, type Outgoing, type Transcript } from "./chat-transcript.js"

/** Structured data shown in a tool's details, bounded so a huge result does not freeze the page. */
export const pretty = (data: unknown, max = 20_000): string => {
  let s: string
  try {
    s = typeof data === "string" ? data : (JSON.stringify(data, null, 2) ?? String(data))
  } catch {
    s = String(data)
  }
  return s.length > max ? `${s.slice(0, max)}\n… (${s.length - max} more characters)` : s
}

const ToolDetails = ({ kind, name, data, isError }: { kind: "call" | "result"; name: string; data: unknown; isError?: boolean }) => (
  <details class={`tool tool-${kind}${isError ? " tool-error" : ""}`}>
    <summary>
      <span class="tool-kind">{kind === "call" ? "Tool call" : isError ? "Tool error" : "Tool result"}</span> <code>{name}</code>
    </summary>
    <pre>{pretty(data)}</pre>
  </details>
)

const Entry = ({ e }: { e: HistoryEntry }) => {
  if (e.role === "tool_call" || e.role === "tool_result") {
    return (
      <li class="msg msg-tool">
        <ToolDetails kind={e.role === "tool_call" ? "call" : "result"} name={e.toolName ?? e.text} data={e.data ?? e.text} />
        <div class="msg-meta">
          <Time ms={e.ts} />
        </div>
      </li>
    )
  }
  if (e.role !== "user" && e.role !== "assistant") {
    return (
      <li class="msg msg-system">
        <p>{e.text}</p>
      </li>
    )
  }
  const who = e.role === "user" ? (e.sender ?? "User") : "Assistant"
  return (
    <li class={`msg msg-${e.role}`}>
      <div class="msg-meta">
        <span class="msg-who">{who}</span>
        {e.role === "user" && e.channel && e.channel !== "webchat" ? <Badge>{e.channel}</Badge> : null}
        <Time ms={e.ts} />
      </div>
      <p class="msg-text">{e.text}</p>
    </li>
  )
}

const OutgoingRow = ({ o, onRetry }: { o: Outgoing; onRetry: (o: Outgoing) => void }) => (
  <li class={`msg msg-user msg-outgoing msg-${o.status}`}>
    <div class="msg-meta">
      <span class="msg-who">You</span>
      <Time ms={o.ts} />
      <span class="msg-status">
        {o.status === "sending" ? "Sending…" : o.status === "accepted" ? "Sent" : o.status === "unconfirmed" ? "Not confirmed" : "Not sent"}
      </span>
    </div>
    <p class="msg-text">{o.text}</p>
    {o.status === "failed" || o.status === "unconfirmed" ? (
      <div class="msg-problem" role="alert">
        <p>
          {o.status === "unconfirmed"
            ? "The connection dropped before the Gateway confirmed this message, and it is not in the transcript. Sending it again is safe: the Gateway runs it at most once."
            : `The Gateway did not take this message: ${o.error ?? "unknown error"}.`}
        </p>
        <Button onClick={() => onRetry(o)}>Send again</Button>
      </div>
    ) : null}
  </li>
)

const LiveTools = ({ tools }: { tools: ReadonlyArray<LiveTool> }) => (
  <>
    {tools.map((t) => (
      <div key={t.toolCallId} class="live-tool">
        <ToolDetails kind="call" name={t.name} data={t.args} />
        {t.done ? (
          <ToolDetails kind="result" name={t.name} data={t.result} isError={t.isError === true} />
        ) : (
          <p class="muted">Running {t.name}…</p>
        )}
      </div>
    ))}
  </>
)

const RunRow = ({ t, run, onDismiss }: { t: Transcript; run: LiveRun; onDismiss: (runId: string) => void }) => {
  const { text, tools } = liveRemainder(t, run)
  return (
    <li class={`msg msg-assistant msg-live msg-run-${run.status}`}>
      <div class="msg-meta">
        <span class="msg-who">Assistant</span>
        {run.status === "running" ? <span class="msg-status">Replying…</span> : null}
      </div>
      <LiveTools tools={tools} />
      {text ? <p class="msg-text">{text}</p> : run.status === "running" && tools.length === 0 ? <p class="msg-text muted">…</p> : null}
      {run.status === "aborted" || run.status === "error" ? (
        <div class="msg-problem" role="alert">
          <p>
            {run.status === "aborted"
              ? "The run was aborted."
              : `The run failed: ${run.error ?? "unknown error"}. Send the message again, or check the model settings on the Gateway (Config page).`}
          </p>
          <Button kind="quiet" onClick={() => onDismiss(run.runId)}>
            Dismiss
          </Button>
        </div>
      ) : null}
    </li>
  )
}

export const Messages = ({
  t,
  onRetry,
  onDismiss
}: {
  t: Transcript
  onRetry: (o: Outgoing) => void
  onDismiss: (runId: string) => void
}) => {
  // Sends and live runs after the stored transcript, in the order they started.
  const tail: Array<{ ts: number; node: preact.JSX.Element }> = [
    ...t.outbox.map((o) => ({ ts: o.ts, node: <OutgoingRow key={`o:${o.key}`} o={o} onRetry={onRetry} /> })),
    ...t.runs.map((r) => ({ ts: r.ts, node: <RunRow key={`r:${r.runId}`} t={t} run={r} onDismiss={onDismiss} /> }))
  ].sort((a, b) => a.ts - b.ts)
  return (
    <ol class="messages">
      {t.entries.map((e) => (
        <Entry key={`${t.sessionId ?? ""}:${e.seq}`} e={e} />
      ))}
      {tail.map((x) => x.node)}
    </ol>
  )
}

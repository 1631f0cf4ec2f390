/**
 * Small pieces the seven pages share: the page frame, loading / empty / error
 * notes, times that keep counting, badges, field lists, a copy button, an
 * inline confirmation step and a text editor with line numbers. Everything is
 * rendered as text (every value came from a peer); nothing here sets HTML.
 */
import { type Signal, useSignal } from "@preact/signals"
import type { ComponentChildren, JSX, RefObject, TargetedKeyboardEvent } from "preact"
import { useEffect, useId, useRef } from "preact/hooks"
import { isoTime, relativeTime } from "./format.js"
import { describeError } from "./scopes.js"

export const Page = (props: {
  readonly title: string
  readonly lede?: ComponentChildren | undefined
  readonly actions?: ComponentChildren | undefined
  readonly children: ComponentChildren
  readonly name: string
}) => {
  const id = `pg-${props.name}-title`
  return (
    <section class={`pg pg-${props.name}`} aria-labelledby={id}>
      <header class="pg-head">
        <div class="pg-head-text">
          <h1 id={id}>{props.title}</h1>
          {props.lede !== undefined ? <p class="pg-lede">{props.lede}</p> : null}
        </div>
        {props.actions !== undefined ? <div class="pg-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  )
}

export const Section = (props: {
  readonly title: string
  readonly actions?: ComponentChildren | undefined
  readonly children: ComponentChildren
  readonly class?: string | undefined
}) => {
  const id = useId()
  return (
    <section class={`pg-section ${props.class ?? ""}`} aria-labelledby={id}>
      <div class="pg-section-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions !== undefined ? <div class="pg-actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </section>
  )
}

export const Loading = (props: { readonly what?: string | undefined }) => (
  <p class="pg-note" role="status">
    <span class="pg-spinner" aria-hidden="true" />
    Loading{props.what ? ` ${props.what}` : ""}…
  </p>
)

export const Empty = (props: { readonly children: ComponentChildren }) => <p class="pg-empty">{props.children}</p>

export const NotConnected = () => (
  <p class="pg-note" role="status">
    Not connected to the Gateway. This page loads as soon as the connection is back.
  </p>
)

/** A Gateway error, with what it means and what to do (MISSING_SCOPE names the scope and the commands). */
export const ErrorNote = (props: {
  readonly error: unknown
  readonly method?: string | undefined
  readonly connected?: boolean | undefined
  readonly onRetry?: (() => void) | undefined
  readonly retryLabel?: string | undefined
}) => {
  const v = describeError(props.error, { method: props.method, connected: props.connected })
  return (
    <div class="pg-error" role="alert">
      <p class="pg-error-title">{v.title}</p>
      <p class="pg-error-message">
        {v.message}
        {v.code ? (
          <span class="pg-muted">
            {" "}
            ({v.code}
            {v.detailCode ? ` / ${v.detailCode}` : ""})
          </span>
        ) : null}
      </p>
      {v.hint ? <p>{v.hint}</p> : null}
      {v.commands && v.commands.length > 0 ? (
        <ul class="pg-commands">
          {v.commands.map((c) => (
            <li key={c}>
              <code>{c}</code> <CopyButton text={c} label={`Copy: ${c}`} />
            </li>
          ))}
        </ul>
      ) : null}
      {props.onRetry ? (
        <button type="button" class="pg-btn" onClick={props.onRetry}>
          {props.retryLabel ?? "Try again"}
        </button>
      ) : null}
    </div>
  )
}

/** A time as "5s ago" (counting with `now`), the exact time in its tooltip and `dateTime`. */
export const Ago = (props: { readonly at: number | undefined; readonly now: number; readonly fallback?: string | undefined }) => {
  const iso = isoTime(props.at)
  if (props.at === undefined || iso === undefined) return <span class="pg-muted">{props.fallback ?? "–"}</span>
  return (
    <time dateTime={iso} title={new Date(props.at).toLocaleString()}>
      {relativeTime(props.at, props.now)}
    </time>
  )
}

/** A table cell that stacks under its column's name on a phone (the name comes from CSS, `data-label`). */
export const Cell = (props: { readonly label: string; readonly children: ComponentChildren }) => (
  <td data-label={props.label}>
    <div class="pg-cell">{props.children}</div>
  </td>
)

export const Badge = (props: {
  readonly tone?: "ok" | "bad" | "warn" | "muted" | "accent" | undefined
  readonly children: ComponentChildren
}) => <span class={`pg-badge pg-badge-${props.tone ?? "muted"}`}>{props.children}</span>

/** A list of label: value pairs; a value that is undefined is left out. */
export const Fields = (props: {
  readonly items: ReadonlyArray<readonly [string, ComponentChildren]>
  readonly class?: string | undefined
}) => (
  <dl class={`pg-fields ${props.class ?? ""}`}>
    {props.items
      .filter(([, v]) => v !== undefined && v !== null && v !== "")
      .map(([k, v]) => (
        <div class="pg-field" key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
  </dl>
)

/** Words as small chips (scopes, roles, caps). */
export const Chips = (props: { readonly items: ReadonlyArray<string>; readonly empty?: string | undefined }) =>
  props.items.length === 0 ? (
    <span class="pg-muted">{props.empty ?? "none"}</span>
  ) : (
    <ul class="pg-chips">
      {props.items.map((s) => (
        <li key={s}>{s}</li>
      ))}
    </ul>
  )

const copyText = async (text: string): Promise<boolean> => {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      return true
    }
  } catch {
    // fall through to the selection
  }
  // Not a secure context (a plain-http tunnel to a LAN address): the clipboard API is absent; copy a selection.
  const area = document.createElement("textarea")
  area.value = text
  area.setAttribute("readonly", "")
  area.className = "pg-offscreen"
  document.body.appendChild(area)
  area.select()
  let ok = false
  try {
    ok = document.execCommand("copy")
  } catch {
    ok = false
  }
  area.remove()
  return ok
}

/** Copies `text`; says whether it worked (and what to do when the browser refused). */
export const CopyButton = (props: { readonly text: string; readonly label?: string | undefined }) => {
  const status = useSignal<"idle" | "copied" | "failed">("idle")
  useEffect(() => {
    if (status.value === "idle") return
    const t = setTimeout(() => {
      status.value = "idle"
    }, 2500)
    return () => clearTimeout(t)
  }, [status.value])
  return (
    <span class="pg-copy">
      <button
        type="button"
        class="pg-btn pg-btn-small"
        aria-label={props.label ?? "Copy"}
        onClick={async () => {
          status.value = (await copyText(props.text)) ? "copied" : "failed"
        }}
      >
        Copy
      </button>
      <span class="pg-copy-status" role="status">
        {status.value === "copied" ? "Copied" : status.value === "failed" ? "Select the text and copy it (Ctrl+C)" : ""}
      </span>
    </span>
  )
}

/**
 * An action with an inline confirmation step: the button, then a question
 * with "Confirm" and "Cancel" (Escape cancels; focus moves to Cancel, and back
 * to the button after). Not window.confirm, which a page may not rely on.
 */
export const ConfirmAction = (props: {
  readonly label: string
  readonly question: ComponentChildren
  readonly onConfirm: () => Promise<unknown> | undefined
  readonly disabled?: boolean | undefined
  readonly title?: string | undefined
  readonly danger?: boolean | undefined
}) => {
  const asking = useSignal(false)
  const busy = useSignal(false)
  const cancelRef = useRef<HTMLButtonElement>(null)
  const buttonRef = useRef<HTMLButtonElement>(null)
  const wasAsking = useRef(false)
  useEffect(() => {
    if (asking.value) cancelRef.current?.focus()
    else if (wasAsking.current) buttonRef.current?.focus()
    wasAsking.current = asking.value
  }, [asking.value])
  if (!asking.value) {
    return (
      <button
        type="button"
        ref={buttonRef}
        class={`pg-btn ${props.danger ? "pg-btn-danger" : ""}`}
        disabled={props.disabled}
        title={props.title}
        onClick={() => {
          asking.value = true
        }}
      >
        {props.label}
      </button>
    )
  }
  const onKey = (e: TargetedKeyboardEvent<HTMLElement>) => {
    if (e.key === "Escape") {
      e.stopPropagation()
      asking.value = false
    }
  }
  return (
    <fieldset class="pg-confirm" aria-label={props.label} onKeyDown={onKey}>
      <span class="pg-confirm-question">{props.question}</span>
      <button
        type="button"
        class={`pg-btn ${props.danger ? "pg-btn-danger" : "pg-btn-primary"}`}
        disabled={busy.value}
        onClick={async () => {
          busy.value = true
          try {
            await props.onConfirm()
          } finally {
            busy.value = false
            asking.value = false
          }
        }}
      >
        Confirm
      </button>
      <button
        type="button"
        class="pg-btn"
        ref={cancelRef}
        disabled={busy.value}
        onClick={() => {
          asking.value = false
        }}
      >
        Cancel
      </button>
    </fieldset>
  )
}

/** Selects line `line` (1-based) of a textarea, focuses it and scrolls it into view. */
export const goToLine = (area: HTMLTextAreaElement | null, line: number): void => {
  if (area === null) return
  const lines = area.value.split("\n")
  const n = Math.min(Math.max(line, 1), lines.length)
  let start = 0
  for (let i = 0; i < n - 1; i++) start += (lines[i]?.length ?? 0) + 1
  const end = start + (lines[n - 1]?.length ?? 0)
  area.focus()
  area.setSelectionRange(start, end)
  const lh = Number.parseFloat(getComputedStyle(area).lineHeight) || 20
  area.scrollTop = Math.max(0, (n - 3) * lh)
}

/**
 * A textarea for code (JSON, JSON5) with line numbers beside it; `marked`
 * lines (errors) are highlighted in the gutter. The gutter is decoration
 * (aria-hidden): errors are also said in words, next to the editor.
 */
export const CodeEditor = (props: {
  readonly label: string
  readonly value: Signal<string>
  readonly marked?: ReadonlySet<number> | undefined
  readonly rows?: number | undefined
  readonly invalid?: boolean | undefined
  readonly describedBy?: string | undefined
  readonly readOnly?: boolean | undefined
  readonly areaRef?: RefObject<HTMLTextAreaElement | null> | undefined
  readonly onInput?: ((text: string) => void) | undefined
}) => {
  const id = useId()
  const gutter = useRef<HTMLPreElement>(null)
  const ownRef = useRef<HTMLTextAreaElement>(null)
  const areaRef = props.areaRef ?? ownRef
  const count = props.value.value.split("\n").length
  const numbers: Array<JSX.Element> = []
  for (let i = 1; i <= count; i++) {
    numbers.push(
      <span key={i} class={props.marked?.has(i) ? "pg-gutter-mark" : undefined}>
        {i}
        {"\n"}
      </span>
    )
  }
  return (
    <div class="pg-editor-wrap">
      <label class="pg-label" for={id}>
        {props.label}
      </label>
      <div class={`pg-editor ${props.invalid ? "pg-editor-invalid" : ""}`}>
        <pre class="pg-gutter" aria-hidden="true" ref={gutter}>
          {numbers}
        </pre>
        <textarea
          id={id}
          ref={areaRef}
          class="pg-code"
          rows={props.rows ?? 12}
          spellcheck={false}
          autocapitalize="off"
          autocomplete="off"
          wrap="off"
          readOnly={props.readOnly}
          aria-invalid={props.invalid ? "true" : undefined}
          aria-describedby={props.describedBy}
          value={props.value.value}
          onInput={(e) => {
            const text = e.currentTarget.value
            props.value.value = text
            props.onInput?.(text)
          }}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop
          }}
        />
      </div>
    </div>
  )
}

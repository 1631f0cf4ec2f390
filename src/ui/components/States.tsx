/**
 * What a page shows when it has nothing, is loading, or failed:
 *
 *   <EmptyState title="No nodes connected">Run `clawgate node run` on a machine.</EmptyState>
 *   <ErrorNote error={e} onRetry={load} />   // e: a CallError, an Error or a string
 *   <Loading label="Loading sessions" />
 *
 * ErrorNote says what went wrong and, for the common Gateway codes, what to
 * do about it; it is announced to screen readers (role="alert").
 */
import type { ComponentChildren } from "preact"
import { CallError } from "../client/types.js"
import { Button } from "./Button.js"

export const EmptyState = ({ title, children }: { readonly title: string; readonly children?: ComponentChildren }) => (
  <div class="empty">
    <p class="empty-title">{title}</p>
    {children ? <div class="empty-body">{children}</div> : null}
  </div>
)

export const Loading = ({ label = "Loading…" }: { readonly label?: string }) => (
  <p class="loading" role="status">
    {label}
  </p>
)

/** What to do about a failed call, by its code (undefined: the message says it all). */
export const whatToDo = (e: unknown): string | undefined => {
  if (!(e instanceof CallError)) return undefined
  if (e.detailCode === "MISSING_SCOPE") {
    const d = e.details as { missingScope?: unknown } | undefined
    const scope = typeof d?.missingScope === "string" ? d.missingScope : "a scope"
    return `This browser's device lacks ${scope}. Approve the scope upgrade for it (Devices page or clawgate devices) and reconnect.`
  }
  switch (e.code) {
    case "UNAVAILABLE":
      return "The Gateway could not do it right now; it is safe to try again."
    case "TIMEOUT":
      return "No answer in time: check the result before you retry."
    case "FORBIDDEN":
      return "The Gateway does not allow this for this device."
    default:
      return undefined
  }
}

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : typeof e === "string" ? e : "something went wrong")

export const ErrorNote = ({ error, onRetry }: { readonly error: unknown; readonly onRetry?: () => void }) => {
  const todo = whatToDo(error)
  return (
    <div class="error-note" role="alert">
      <p>{messageOf(error)}</p>
      {todo ? <p class="error-todo">{todo}</p> : null}
      {onRetry ? <Button onClick={onRetry}>Try again</Button> : null}
    </div>
  )
}

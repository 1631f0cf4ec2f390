/**
 * Short status text in a coloured pill, and a neutral badge. The colour
 * only repeats what the text says (never the only signal).
 *
 *   <StatusPill tone="ok">connected</StatusPill>
 *   <Badge>telegram</Badge>
 */
import type { ComponentChildren } from "preact"

export type Tone = "ok" | "warn" | "error" | "neutral" | "info"

export const StatusPill = ({ tone = "neutral", children }: { readonly tone?: Tone; readonly children: ComponentChildren }) => (
  <span class={`pill pill-${tone}`}>{children}</span>
)

export const Badge = ({ children, title }: { readonly children: ComponentChildren; readonly title?: string }) => (
  <span class="badge" title={title}>
    {children}
  </span>
)

/**
 * A command or value shown as code, with a Copy button (its accessible name
 * is `copyLabel`, "Copy command" by default). Where the Clipboard API is not
 * available (a page that is not a secure context) the button selects the
 * text instead, for Ctrl+C.
 *
 *   <CodeLine text={`clawgate devices approve ${requestId}`} />
 */
import { useRef, useState } from "preact/hooks"

export const CodeLine = ({ text, copyLabel = "Copy command" }: { readonly text: string; readonly copyLabel?: string }) => {
  const code = useRef<HTMLElement>(null)
  const [copied, setCopied] = useState<"" | "copied" | "selected">("")
  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard")
      await navigator.clipboard.writeText(text)
      setCopied("copied")
    } catch {
      const el = code.current
      const sel = window.getSelection()
      if (el && sel) {
        const range = document.createRange()
        range.selectNodeContents(el)
        sel.removeAllRanges()
        sel.addRange(range)
      }
      setCopied("selected")
    }
  }
  return (
    <div class="codeline">
      <code ref={code}>{text}</code>
      <button type="button" class="btn btn-secondary" onClick={copy} aria-label={copyLabel}>
        {copied === "copied" ? "Copied" : "Copy"}
      </button>
      <span class="sr-only" aria-live="polite">
        {copied === "copied" ? "Copied to the clipboard" : copied === "selected" ? "Selected: press Ctrl+C to copy" : ""}
      </span>
    </div>
  )
}

/**
 * Plain text in which `backticked` parts are shown as code: how the
 * connection's messages name commands and settings. Text only (Preact
 * escapes it); never HTML.
 *
 *   <Prose text="Run `clawgate dashboard` again." />
 */

export const Prose = ({ text }: { readonly text: string }) => (
  <>{text.split("`").map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part))}</>
)

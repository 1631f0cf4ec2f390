/**
 * A button: `type="button"` unless told otherwise (so it never submits a
 * form by accident), at least 40 px tall (styles.css), with a visible focus
 * ring. `kind` picks the look: primary (the page's main action), secondary,
 * danger (destructive), quiet (a text-like button).
 *
 *   <Button kind="danger" onClick={revoke}>Revoke</Button>
 */
import type { ButtonHTMLAttributes } from "preact"

export type ButtonKind = "primary" | "secondary" | "danger" | "quiet"

export type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & { readonly kind?: ButtonKind }

export const Button = ({ kind = "secondary", type = "button", class: cls, ...rest }: ButtonProps) => (
  <button type={type} class={`btn btn-${kind}${cls ? ` ${String(cls)}` : ""}`} {...rest} />
)

/** Placeholder: the Security page lands from the pages helper's branch at merge. */
import type { UiClient } from "../client/types.js"

export const SecurityPage = (_props: { readonly client: UiClient }) => (
  <section aria-labelledby="page-title">
    <h1 id="page-title">Security</h1>
  </section>
)

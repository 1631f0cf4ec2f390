/** Placeholder: the Config page lands from the pages helper's branch at merge. */
import type { UiClient } from "../client/types.js"

export const ConfigPage = (_props: { readonly client: UiClient }) => (
  <section aria-labelledby="page-title">
    <h1 id="page-title">Config</h1>
  </section>
)

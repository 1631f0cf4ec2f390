/** Placeholder: the Nodes page lands from the pages helper's branch at merge. */
import type { UiClient } from "../client/types.js"

export const NodesPage = (_props: { readonly client: UiClient }) => (
  <section aria-labelledby="page-title">
    <h1 id="page-title">Nodes</h1>
  </section>
)

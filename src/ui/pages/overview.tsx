/** Placeholder: the Overview page lands from the pages helper's branch at merge. */
import type { UiClient } from "../client/types.js"

export const OverviewPage = (_props: { readonly client: UiClient }) => (
  <section aria-labelledby="page-title">
    <h1 id="page-title">Overview</h1>
  </section>
)

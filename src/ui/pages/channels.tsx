/** Placeholder: the Channels page lands from the pages helper's branch at merge. */
import type { UiClient } from "../client/types.js"

export const ChannelsPage = (_props: { readonly client: UiClient }) => (
  <section aria-labelledby="page-title">
    <h1 id="page-title">Channels</h1>
  </section>
)

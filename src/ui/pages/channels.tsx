/**
 * Channels: each messaging channel's state, mode (polling or webhook), the
 * account it runs as, and its last error; a probe on demand, and Logout where
 * the Gateway offers channels.logout and this browser holds its scope.
 */
import { useSignal } from "@preact/signals"
import type { UiClient } from "../client/types.js"
import { readChannels, stateTone, type ChannelView } from "./lib/channels.js"
import { useEvent, useHello, useNow, useResource, useThrottled } from "./lib/hooks.js"
import { Ago, Badge, Cell, ConfirmAction, Empty, ErrorNote, Loading, NotConnected, Page, Section } from "./lib/parts.js"
import { mayCall, offers } from "./lib/scopes.js"
import "./pages.css"

export const ChannelsPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const connected = hello.value !== undefined
  const now = useNow(1000)
  const probing = useSignal(false)
  const notice = useSignal<{ readonly text: string } | { readonly error: unknown } | undefined>(undefined)
  const list = useResource(client, async () => readChannels(await client.call("channels.status")))
  // A channel's state changes reach operators in health snapshots: the table follows (at most once a second).
  const reloadSoon = useThrottled(() => void list.reload(), 1000)
  useEvent(client, "health", reloadSoon)

  const canLogout = offers(hello.value, "channels.logout") && mayCall(client.can, "channels.logout")

  const probe = async () => {
    probing.value = true
    try {
      list.data.value = readChannels(await client.call("channels.status", { probe: true, timeoutMs: 10_000 }))
      list.error.value = undefined
    } catch (e) {
      list.error.value = e
    } finally {
      probing.value = false
    }
  }

  const logout = async (c: ChannelView) => {
    notice.value = undefined
    try {
      await client.call("channels.logout", { channel: c.id, ...(c.accountId ? { accountId: c.accountId } : {}) })
      notice.value = { text: `Logged out of ${c.label}.` }
    } catch (error) {
      notice.value = { error }
    }
    await list.reload()
  }

  const channels = list.data.value
  return (
    <Page
      name="channels"
      title="Channels"
      lede="The messaging channels the Gateway receives and replies through."
      actions={
        <>
          <button type="button" class="pg-btn" onClick={() => void probe()} disabled={!connected || probing.value}>
            {probing.value ? "Probing…" : "Probe"}
          </button>
          <button type="button" class="pg-btn" onClick={() => void list.reload()} disabled={!connected}>
            Refresh
          </button>
        </>
      }
    >
      {!connected ? <NotConnected /> : null}
      <div class="pg-live" aria-live="polite">
        {notice.value && "text" in notice.value ? <p class="pg-ok-note">{notice.value.text}</p> : null}
        {notice.value && "error" in notice.value ? (
          <ErrorNote error={notice.value.error} method="channels.logout" connected={connected} />
        ) : null}
      </div>
      <Section title="Channels">
        {list.error.value !== undefined ? (
          <ErrorNote error={list.error.value} method="channels.status" connected={connected} onRetry={() => void list.reload()} />
        ) : channels === undefined ? (
          connected ? (
            <Loading what="channels" />
          ) : null
        ) : channels.length === 0 ? (
          <Empty>
            No channel is configured. Add one in the config, e.g. <code>clawgate config set channels.telegram.botToken …</code>
          </Empty>
        ) : (
          <table class="pg-table">
            <caption class="pg-sr">Channels and their state</caption>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">State</th>
                <th scope="col">Mode</th>
                <th scope="col">Account</th>
                <th scope="col">Last error</th>
                <th scope="col">Activity</th>
                {canLogout ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {channels.map((c) => (
                <tr key={c.id}>
                  <Cell label="Channel">
                    <strong>{c.label}</strong> <span class="pg-muted">{c.id}</span>
                  </Cell>
                  <Cell label="State">
                    <Badge tone={!c.configured || !c.enabled ? "muted" : stateTone(c.state)}>
                      {!c.configured ? "not configured" : !c.enabled ? "disabled" : c.state}
                    </Badge>
                    {c.probe ? (
                      <span class="pg-muted">
                        {" "}
                        probe {c.probe.ok ? "ok" : "failed"}
                        {c.probe.ms !== undefined ? ` in ${c.probe.ms} ms` : ""}
                        {c.probe.error ? `: ${c.probe.error}` : ""}
                      </span>
                    ) : null}
                  </Cell>
                  <Cell label="Mode">{c.mode ?? "–"}</Cell>
                  <Cell label="Account">{c.account ?? "–"}</Cell>
                  <Cell label="Last error">
                    {c.lastError ? (
                      <>
                        <span class="pg-danger-text">{c.lastError.message}</span>{" "}
                        {c.lastError.at !== undefined ? <Ago at={c.lastError.at} now={now.value} /> : null}
                      </>
                    ) : (
                      <span class="pg-muted">none</span>
                    )}
                  </Cell>
                  <Cell label="Activity">
                    <span>
                      in <Ago at={c.lastInboundAt} now={now.value} fallback="never" />
                    </span>
                    {", "}
                    <span>
                      out <Ago at={c.lastOutboundAt} now={now.value} fallback="never" />
                    </span>
                  </Cell>
                  {canLogout ? (
                    <Cell label="Actions">
                      {c.configured && c.id !== "webchat" ? (
                        <ConfirmAction
                          label="Logout"
                          danger
                          question={`Log out of ${c.label}? It stops receiving messages until it is set up again.`}
                          onConfirm={() => logout(c)}
                        />
                      ) : null}
                    </Cell>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </Page>
  )
}

/**
 * Overview: is the Gateway healthy, what is it (version, uptime, how it is
 * reached: bind, listeners, auth, TLS, Tailscale), who is connected, and is the
 * connection alive (the last tick, counting every second).
 */
import { useSignal, useSignalEffect } from "@preact/signals"
import type { UiClient } from "../client/types.js"
import { duration } from "./lib/format.js"
import { useEvent, useHello, useNow, useResource } from "./lib/hooks.js"
import { readHealth, readPresence, readStatus, tickLate, type HealthView, type PresenceView } from "./lib/overview.js"
import { Ago, Badge, Cell, Chips, Empty, ErrorNote, Fields, Loading, NotConnected, Page, Section } from "./lib/parts.js"
import "./pages.css"

const TickLine = (props: { readonly client: UiClient; readonly now: number; readonly intervalMs: number | undefined }) => {
  // The tick's `ts` is the Gateway's clock; how long ago it arrived is measured on this browser's clock.
  const receivedAt = useSignal<number | undefined>(undefined)
  useSignalEffect(() => {
    const ts = props.client.lastTick.value
    if (ts === undefined) return
    receivedAt.value = receivedAt.peek() === undefined ? Math.min(ts, Date.now()) : Date.now()
  })
  const at = receivedAt.value
  if (at === undefined) {
    return (
      <p class="pg-tick">
        <Badge tone="muted">no tick yet</Badge>{" "}
        {props.intervalMs !== undefined ? `the Gateway sends one every ${duration(props.intervalMs)}` : null}
      </p>
    )
  }
  const since = Math.max(0, props.now - at)
  const late = tickLate(since, props.intervalMs)
  return (
    <p class="pg-tick">
      <Badge tone={late ? "warn" : "ok"}>{late ? "tick late" : "live"}</Badge> last tick {Math.floor(since / 1000)}s ago
      {props.intervalMs !== undefined ? <span class="pg-muted"> (every {duration(props.intervalMs)})</span> : null}
    </p>
  )
}

const HealthSection = (props: { readonly health: HealthView | undefined; readonly now: number }) => {
  const h = props.health
  if (h === undefined) return <Loading what="health" />
  return (
    <>
      <p>
        {h.ok === false ? <Badge tone="bad">unhealthy</Badge> : h.ok === true ? <Badge tone="ok">healthy</Badge> : <Badge>unknown</Badge>}{" "}
        {h.ok === false ? "The Gateway reports a problem: its session store may be unreadable (see Logs)." : null}
        {h.ts !== undefined ? (
          <span class="pg-muted">
            {" "}
            as of <Ago at={h.ts} now={props.now} />
          </span>
        ) : null}
      </p>
      <h3>Channels</h3>
      {h.channels.length === 0 ? (
        <Empty>No messaging channel is configured.</Empty>
      ) : (
        <ul class="pg-list">
          {h.channels.map((c) => (
            <li key={c.id}>
              <strong>{c.label}</strong>{" "}
              <Badge tone={c.error ? "bad" : c.state === "running" ? "ok" : "muted"}>{c.state ?? "unknown"}</Badge>
              {c.error ? <span class="pg-danger-text"> {c.error}</span> : null}
            </li>
          ))}
        </ul>
      )}
      <h3>Agents and sessions</h3>
      <Fields
        items={[
          ["Sessions", h.sessionCount !== undefined ? String(h.sessionCount) : undefined],
          [
            "Agents",
            h.agents.length > 0
              ? h.agents
                  .map((a) => `${a.agentId}${a.isDefault ? " (default)" : ""}${a.sessions !== undefined ? `: ${a.sessions}` : ""}`)
                  .join(", ")
              : undefined
          ]
        ]}
      />
      {h.recent.length > 0 ? (
        <>
          <h3>Recent sessions</h3>
          <ul class="pg-list">
            {h.recent.map((r) => (
              <li key={r.key}>
                <code>{r.key}</code>
                {r.channel ? <span class="pg-muted"> via {r.channel}</span> : null} <Ago at={r.updatedAt} now={props.now} />
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </>
  )
}

const PresenceTable = (props: { readonly entries: ReadonlyArray<PresenceView>; readonly now: number }) =>
  props.entries.length === 0 ? (
    <Empty>Nobody else is connected.</Empty>
  ) : (
    <table class="pg-table">
      <caption class="pg-sr">Connected clients</caption>
      <thead>
        <tr>
          <th scope="col">Client</th>
          <th scope="col">Mode</th>
          <th scope="col">IP</th>
          <th scope="col">Roles</th>
          <th scope="col">Since</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map((p) => (
          <tr key={p.key}>
            <Cell label="Client">
              <strong>{p.client}</strong>
              {p.platform || p.version ? <span class="pg-muted"> {[p.platform, p.version].filter(Boolean).join(" · ")}</span> : null}
            </Cell>
            <Cell label="Mode">{p.mode ?? "–"}</Cell>
            <Cell label="IP">{p.ip ?? "–"}</Cell>
            <Cell label="Roles">
              <Chips items={p.roles} empty="–" />
            </Cell>
            <Cell label="Since">
              <Ago at={p.since} now={props.now} />
            </Cell>
          </tr>
        ))}
      </tbody>
    </table>
  )

export const OverviewPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const now = useNow(1000)
  const connected = hello.value !== undefined

  const status = useResource(client, async () => ({ view: readStatus(await client.call("status")), at: Date.now() }))
  const health = useResource(client, async () => readHealth(await client.call("health")))
  const presence = useResource(client, async () => readPresence(await client.call("system-presence")))

  // Events replace what was loaded: the health snapshot, and presence as a whole list.
  useEvent(client, "health", (e) => {
    health.data.value = readHealth(e.payload)
  })
  useEvent(client, "presence", (e) => {
    presence.data.value = readPresence(e.payload)
  })

  const h = hello.value
  const healthView = health.data.value ?? (h ? readHealth(h.snapshot.health) : undefined)
  const presenceList = presence.data.value ?? (h ? readPresence(h.snapshot.presence) : undefined)
  const st = status.data.value
  const s = st?.view
  const uptime = s?.uptimeMs !== undefined && st ? s.uptimeMs + (now.value - st.at) : undefined

  const refresh = () => {
    void status.reload()
    void health.reload()
    void presence.reload()
  }

  return (
    <Page
      name="overview"
      title="Overview"
      lede={<TickLine client={client} now={now.value} intervalMs={h?.policy.tickIntervalMs} />}
      actions={
        <button type="button" class="pg-btn" onClick={refresh} disabled={!connected}>
          Refresh
        </button>
      }
    >
      {!connected ? <NotConnected /> : null}
      <div class="pg-grid">
        <Section title="Gateway">
          {status.error.value !== undefined ? (
            <ErrorNote error={status.error.value} method="status" connected={connected} onRetry={() => void status.reload()} />
          ) : s === undefined ? (
            <Loading what="status" />
          ) : (
            <Fields
              items={[
                ["Version", s.version ?? h?.server.version],
                ["Uptime", uptime !== undefined ? duration(uptime) : undefined],
                ["Host", s.host],
                [
                  "Platform",
                  [s.platform, s.runtimeVersion ? `runtime ${s.runtimeVersion}` : undefined].filter(Boolean).join(", ") || undefined
                ],
                ["Mode", s.mode],
                [
                  "Connections",
                  s.connections
                    ? `${s.connections.operators} operator${s.connections.operators === 1 ? "" : "s"}, ${s.connections.nodes} node${s.connections.nodes === 1 ? "" : "s"}${s.connections.pending ? `, ${s.connections.pending} waiting` : ""}`
                    : undefined
                ]
              ]}
            />
          )}
        </Section>
        <Section title="Network and access">
          {s === undefined ? (
            status.error.value === undefined ? (
              <Loading />
            ) : (
              <Empty>Not known: status did not answer.</Empty>
            )
          ) : (
            <Fields
              items={[
                ["Bind", s.bind],
                ["Port", s.port !== undefined ? String(s.port) : undefined],
                ["Listeners", s.listeners.length > 0 ? <Chips items={s.listeners} /> : "none"],
                ["Auth mode", s.authMode],
                [
                  "TLS",
                  s.tls === undefined ? undefined : s.tls ? (
                    <Badge tone="ok">on</Badge>
                  ) : (
                    <Badge tone={s.bind === "loopback" ? "muted" : "warn"}>off</Badge>
                  )
                ],
                [
                  "TLS fingerprint",
                  s.tls ? (
                    s.tlsFingerprint !== undefined ? (
                      <code class="pg-wrap">{s.tlsFingerprint}</code>
                    ) : (
                      <span class="pg-muted">
                        not given by this Gateway: run <code>clawgate gateway tls fingerprint</code> on its host
                      </span>
                    )
                  ) : undefined
                ],
                ["Tailscale", s.tailscale]
              ]}
            />
          )}
        </Section>
        <Section title="Health">
          {health.error.value !== undefined && healthView === undefined ? (
            <ErrorNote error={health.error.value} method="health" connected={connected} onRetry={() => void health.reload()} />
          ) : (
            <HealthSection health={healthView} now={now.value} />
          )}
        </Section>
      </div>
      <Section title="Connected now">
        {presence.error.value !== undefined && presence.data.value === undefined ? (
          <ErrorNote error={presence.error.value} method="system-presence" connected={connected} onRetry={() => void presence.reload()} />
        ) : presenceList === undefined ? (
          <Loading what="presence" />
        ) : (
          <PresenceTable entries={presenceList} now={now.value} />
        )}
      </Section>
    </Page>
  )
}

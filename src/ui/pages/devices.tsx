/**
 * Devices: pairing requests waiting for an operator (approve, reject), nodes'
 * command surfaces waiting for approval (node.pair.*), and the paired devices
 * (rotate or revoke a role's token, remove the device), updated live from
 * device.pair.* / node.pair.* events. Approval is never self-service: this
 * browser's own request cannot be approved from here.
 */
import { useSignal } from "@preact/signals"
import { useId } from "preact/hooks"
import type { UiClient } from "../client/types.js"
import { shortId } from "./lib/format.js"
import {
  deviceName,
  readDeviceLists,
  readNodeRequests,
  tokenRoles,
  withRequested,
  withResolved,
  type DeviceLists,
  type NodeRequestView,
  type PairedView,
  type PendingView
} from "./lib/devices.js"
import { useEvent, useHello, useNow, useOwnDeviceId, useResource, useThrottled } from "./lib/hooks.js"
import { Ago, Badge, Chips, ConfirmAction, Empty, ErrorNote, Fields, Loading, NotConnected, Page, Section } from "./lib/parts.js"
import { isRecord, str } from "./lib/read.js"
import { mayCall } from "./lib/scopes.js"
import "./pages.css"

type Notice =
  | { readonly _tag: "done"; readonly text: string }
  | { readonly _tag: "failed"; readonly what: string; readonly method: string; readonly error: unknown }

const REASONS: Record<string, string> = {
  "not-paired": "new device",
  "role-upgrade": "asks for another role",
  "scope-upgrade": "asks for more scopes"
}

const PendingCard = (props: {
  readonly request: PendingView
  readonly now: number
  readonly own: boolean
  readonly mayAct: boolean
  readonly act: (method: "device.pair.approve" | "device.pair.reject", r: PendingView) => Promise<void>
}) => {
  const r = props.request
  const titleId = useId()
  const busy = useSignal(false)
  const run = async (method: "device.pair.approve" | "device.pair.reject") => {
    busy.value = true
    try {
      await props.act(method, r)
    } finally {
      busy.value = false
    }
  }
  return (
    <li>
      <article class="pg-card" aria-labelledby={titleId}>
        <div class="pg-card-head">
          <h3 id={titleId}>{deviceName(r)}</h3>
          {props.own ? <Badge tone="accent">this browser</Badge> : null}
          {r.reason ? <Badge tone="warn">{REASONS[r.reason] ?? r.reason}</Badge> : null}
          {r.isRepair ? <Badge>repair</Badge> : null}
        </div>
        <Fields
          items={[
            ["Request", <code key="rid">{r.requestId}</code>],
            [
              "Device id",
              <code key="did" title={r.deviceId}>
                {shortId(r.deviceId, 16)}
              </code>
            ],
            ["Role", r.roles.join(", ") || r.role],
            ["Scopes", <Chips key="s" items={r.scopes} />],
            ["Client", r.clientId ? `${r.clientId}${r.clientMode ? ` (${r.clientMode})` : ""}` : undefined],
            ["Platform", [r.platform, r.deviceFamily].filter(Boolean).join(" · ") || undefined],
            ["From", r.remoteIp],
            ["Commands", r.commands.length > 0 ? <Chips key="c" items={r.commands} /> : undefined],
            ["Asked", <Ago key="t" at={r.ts} now={props.now} />]
          ]}
        />
        {props.mayAct ? (
          <div class="pg-actions">
            <button
              type="button"
              class="pg-btn pg-btn-primary"
              disabled={busy.value || props.own}
              title={props.own ? "A device cannot approve its own request: approve it from another device or the Gateway host" : undefined}
              onClick={() => void run("device.pair.approve")}
            >
              Approve
            </button>
            <button type="button" class="pg-btn pg-btn-danger" disabled={busy.value} onClick={() => void run("device.pair.reject")}>
              Reject
            </button>
            {props.own ? (
              <span class="pg-muted">
                This is this browser's own request: approve it on the Gateway host with <code>clawgate devices approve {r.requestId}</code>.
              </span>
            ) : null}
          </div>
        ) : null}
      </article>
    </li>
  )
}

const NodeRequestCard = (props: {
  readonly request: NodeRequestView
  readonly now: number
  readonly act: (method: "node.pair.approve" | "node.pair.reject", r: NodeRequestView) => Promise<void>
}) => {
  const r = props.request
  const titleId = useId()
  const busy = useSignal(false)
  const run = async (method: "node.pair.approve" | "node.pair.reject") => {
    busy.value = true
    try {
      await props.act(method, r)
    } finally {
      busy.value = false
    }
  }
  const admin = r.requiredApproveScopes.includes("operator.admin")
  return (
    <li>
      <article class="pg-card" aria-labelledby={titleId}>
        <div class="pg-card-head">
          <h3 id={titleId}>{r.displayName ?? shortId(r.nodeId, 12)}</h3>
          {admin ? <Badge tone="warn">needs operator.admin</Badge> : null}
        </div>
        <Fields
          items={[
            ["Request", <code key="rid">{r.requestId}</code>],
            [
              "Node id",
              <code key="nid" title={r.nodeId}>
                {shortId(r.nodeId, 16)}
              </code>
            ],
            ["Commands", r.commands.length > 0 ? <Chips key="c" items={r.commands} /> : "none"],
            ["Approver needs", <Chips key="s" items={r.requiredApproveScopes} />],
            ["Platform", r.platform],
            ["From", r.remoteIp],
            ["Asked", <Ago key="t" at={r.ts} now={props.now} />]
          ]}
        />
        <div class="pg-actions">
          <button type="button" class="pg-btn pg-btn-primary" disabled={busy.value} onClick={() => void run("node.pair.approve")}>
            Approve commands
          </button>
          <button type="button" class="pg-btn pg-btn-danger" disabled={busy.value} onClick={() => void run("node.pair.reject")}>
            Reject
          </button>
        </div>
      </article>
    </li>
  )
}

const PairedCard = (props: {
  readonly device: PairedView
  readonly now: number
  readonly own: boolean
  readonly mayAct: boolean
  readonly act: (
    method: "device.token.rotate" | "device.token.revoke" | "device.pair.remove",
    d: PairedView,
    role?: string
  ) => Promise<void>
}) => {
  const d = props.device
  const titleId = useId()
  const roleId = useId()
  const roles = tokenRoles(d)
  const role = useSignal(roles.includes(d.role ?? "") ? (d.role as string) : (roles[0] ?? ""))
  const chosenRole = roles.includes(role.value) ? role.value : (roles[0] ?? "")
  const selfWarning = props.own ? " This is this browser: it is disconnected and must log in again." : ""
  return (
    <li>
      <article class="pg-card" aria-labelledby={titleId}>
        <div class="pg-card-head">
          <h3 id={titleId}>{deviceName(d)}</h3>
          {props.own ? <Badge tone="accent">this browser</Badge> : null}
          {d.connected ? <Badge tone="ok">online</Badge> : <Badge>offline</Badge>}
        </div>
        <Fields
          items={[
            [
              "Device id",
              <code key="did" title={d.deviceId}>
                {shortId(d.deviceId, 16)}
              </code>
            ],
            ["Role", d.roles.join(", ") || d.role],
            ["Scopes", <Chips key="s" items={d.scopes} />],
            ["Client", d.clientId ? `${d.clientId}${d.clientMode ? ` (${d.clientMode})` : ""}` : undefined],
            ["Platform", [d.platform, d.deviceFamily].filter(Boolean).join(" · ") || undefined],
            ["Last seen", d.connected ? "now" : <Ago key="ls" at={d.lastSeenAtMs} now={props.now} fallback="never" />],
            ["Created", <Ago key="c" at={d.createdAtMs} now={props.now} />],
            [
              "Approved",
              d.approvedAtMs !== undefined ? (
                <>
                  <Ago at={d.approvedAtMs} now={props.now} />
                  {d.approvedVia === "silent" ? " (silently: a local connection)" : ""}
                </>
              ) : undefined
            ],
            [
              "Tokens",
              d.tokens.length > 0 ? (
                <ul class="pg-list pg-list-tight">
                  {d.tokens.map((t) => (
                    <li key={t.role}>
                      {t.role}
                      {t.revokedAtMs !== undefined ? (
                        <>
                          {" "}
                          <Badge tone="bad">revoked</Badge> <Ago at={t.revokedAtMs} now={props.now} />
                        </>
                      ) : t.rotatedAtMs !== undefined ? (
                        <span class="pg-muted">
                          {" "}
                          rotated <Ago at={t.rotatedAtMs} now={props.now} />
                        </span>
                      ) : (
                        <span class="pg-muted">
                          {" "}
                          issued <Ago at={t.createdAtMs} now={props.now} />
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              ) : undefined
            ]
          ]}
        />
        {props.mayAct ? (
          <div class="pg-actions">
            {roles.length > 1 ? (
              <span class="pg-control-inline">
                <label for={roleId}>Token role</label>
                <select
                  id={roleId}
                  value={chosenRole}
                  onChange={(e) => {
                    role.value = e.currentTarget.value
                  }}
                >
                  {roles.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </span>
            ) : null}
            {roles.length > 0 ? (
              <>
                <ConfirmAction
                  label="Rotate token"
                  question={`Issue a new ${chosenRole} token for ${deviceName(d)}? The old one stops working and its sessions close.${selfWarning}`}
                  onConfirm={() => props.act("device.token.rotate", d, chosenRole)}
                />
                <ConfirmAction
                  label="Revoke token"
                  danger
                  question={`Revoke the ${chosenRole} token of ${deviceName(d)}? It is disconnected and needs a new approval to come back as ${chosenRole}.${selfWarning}`}
                  onConfirm={() => props.act("device.token.revoke", d, chosenRole)}
                />
              </>
            ) : null}
            <ConfirmAction
              label="Remove"
              danger
              question={`Remove ${deviceName(d)}? It is unpaired and disconnected, and must pair again.${selfWarning}`}
              onConfirm={() => props.act("device.pair.remove", d)}
            />
          </div>
        ) : null}
      </article>
    </li>
  )
}

export const DevicesPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const connected = hello.value !== undefined
  const now = useNow(1000)
  const ownId = useOwnDeviceId(client)
  const lists = useResource<DeviceLists>(client, async () => readDeviceLists(await client.call("device.pair.list")))
  const notice = useSignal<Notice | undefined>(undefined)
  const mayNodes = mayCall(client.can, "node.pair.list")
  const nodeRequests = useResource<ReadonlyArray<NodeRequestView>>(client, async () =>
    mayNodes ? readNodeRequests(await client.call("node.pair.list"), []) : []
  )
  const reloadSoon = useThrottled(() => void lists.reload(), 500)
  const reloadNodesSoon = useThrottled(() => void nodeRequests.reload(), 500)
  useEvent(client, "node.pair.requested", () => reloadNodesSoon())
  useEvent(client, "node.pair.resolved", () => reloadNodesSoon())

  useEvent(client, "device.pair.requested", (e) => {
    if (lists.data.value) lists.data.value = withRequested(lists.data.value, e.payload)
    else reloadSoon()
  })
  useEvent(client, "device.pair.resolved", (e) => {
    if (lists.data.value) lists.data.value = withResolved(lists.data.value, e.payload)
    reloadSoon() // the approved device joins the paired list
  })

  const mayAct = connected && mayCall(client.can, "device.pair.approve")

  const call = async (method: string, params: Record<string, unknown>, what: string, done: (answer: unknown) => string) => {
    notice.value = undefined
    try {
      const answer = await client.call(method, params)
      notice.value = { _tag: "done", text: done(answer) }
    } catch (error) {
      notice.value = { _tag: "failed", what, method, error }
    }
    await lists.reload()
    await nodeRequests.reload()
  }

  const actNode = (method: "node.pair.approve" | "node.pair.reject", r: NodeRequestView) => {
    const name = r.displayName ?? shortId(r.nodeId, 12)
    return call(
      method,
      { requestId: r.requestId },
      `${method === "node.pair.approve" ? "Approving" : "Rejecting"} ${name}'s commands`,
      () => (method === "node.pair.approve" ? `Approved ${name}'s commands: they can be invoked now.` : `Rejected ${name}'s commands.`)
    )
  }

  const actPending = (method: "device.pair.approve" | "device.pair.reject", r: PendingView) =>
    call(method, { requestId: r.requestId }, `${method === "device.pair.approve" ? "Approving" : "Rejecting"} ${deviceName(r)}`, () =>
      method === "device.pair.approve" ? `Approved ${deviceName(r)}: it connects by itself now.` : `Rejected ${deviceName(r)}'s request.`
    )

  const actPaired = (method: "device.token.rotate" | "device.token.revoke" | "device.pair.remove", d: PairedView, role?: string) => {
    const name = deviceName(d)
    if (method === "device.pair.remove") {
      return call(method, { deviceId: d.deviceId }, `Removing ${name}`, () => `Removed ${name}; it was disconnected if it was online.`)
    }
    const params = { deviceId: d.deviceId, role }
    if (method === "device.token.rotate") {
      return call(method, params, `Rotating ${name}'s ${role} token`, (a) => {
        const delivery = isRecord(a) ? str(a.tokenDelivery, 64) : undefined
        return delivery === "in-band"
          ? `Rotated this browser's ${role} token: this browser is disconnected; log in again or open a new link from clawgate dashboard.`
          : `Rotated ${name}'s ${role} token: its sessions were closed; the device gets a new token when it next pairs or connects.`
      })
    }
    return call(method, params, `Revoking ${name}'s ${role} token`, () => `Revoked ${name}'s ${role} token; it was disconnected.`)
  }

  const data = lists.data.value
  // A node's waiting device pairing is listed by both methods (same requestId): shown once, above.
  const nodePending = (nodeRequests.data.value ?? []).filter((r) => !data?.pending.some((p) => p.requestId === r.requestId))
  return (
    <Page
      name="devices"
      title="Devices"
      lede="Every browser, app, CLI and node that connects is a device: pair the ones you trust."
      actions={
        <button type="button" class="pg-btn" onClick={() => void lists.reload()} disabled={!connected}>
          Refresh
        </button>
      }
    >
      {!connected ? <NotConnected /> : null}
      <div class="pg-live" aria-live="polite">
        {notice.value?._tag === "done" ? <p class="pg-ok-note">{notice.value.text}</p> : null}
        {notice.value?._tag === "failed" ? (
          <div>
            <p class="pg-muted">{notice.value.what} failed:</p>
            <ErrorNote error={notice.value.error} method={notice.value.method} connected={connected} />
          </div>
        ) : null}
      </div>
      {connected && !mayCall(client.can, "device.pair.list") ? (
        <ErrorNote
          error={{
            code: "FORBIDDEN",
            message: "missing scope: operator.pairing",
            details: { code: "MISSING_SCOPE", missingScope: "operator.pairing" }
          }}
        />
      ) : lists.error.value !== undefined && data === undefined ? (
        <ErrorNote error={lists.error.value} method="device.pair.list" connected={connected} onRetry={() => void lists.reload()} />
      ) : data === undefined ? (
        connected ? (
          <Loading what="devices" />
        ) : null
      ) : (
        <>
          <Section title={`Waiting for approval (${data.pending.length})`}>
            {data.pending.length === 0 ? (
              <Empty>No device is waiting. A new device shows here the moment it asks to pair.</Empty>
            ) : (
              <ul class="pg-cards">
                {data.pending.map((r) => (
                  <PendingCard
                    key={r.requestId}
                    request={r}
                    now={now.value}
                    own={ownId !== undefined && r.deviceId === ownId}
                    mayAct={mayAct}
                    act={actPending}
                  />
                ))}
              </ul>
            )}
          </Section>
          {nodePending.length > 0 ? (
            <Section title={`Node commands waiting for approval (${nodePending.length})`}>
              <ul class="pg-cards">
                {nodePending.map((r) => (
                  <NodeRequestCard key={r.requestId} request={r} now={now.value} act={actNode} />
                ))}
              </ul>
            </Section>
          ) : null}
          <Section title={`Paired (${data.paired.length})`}>
            {data.paired.length === 0 ? (
              <Empty>No device is paired yet.</Empty>
            ) : (
              <ul class="pg-cards">
                {data.paired.map((d) => (
                  <PairedCard
                    key={d.deviceId}
                    device={d}
                    now={now.value}
                    own={ownId !== undefined && d.deviceId === ownId}
                    mayAct={mayAct}
                    act={actPaired}
                  />
                ))}
              </ul>
            )}
          </Section>
        </>
      )}
    </Page>
  )
}

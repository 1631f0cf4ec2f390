/**
 * Nodes: the connected and paired nodes, what each declares (node.describe:
 * commands and caps), and a form that invokes one of its commands with JSON
 * params and shows what came back, or the Gateway's refusal (a command the
 * node did not declare, or that gateway.nodes.commands forbids, never reaches it).
 */
import { useSignal } from "@preact/signals"
import { useEffect, useId, useRef } from "preact/hooks"
import type { UiClient } from "../client/types.js"
import { duration, shortId } from "./lib/format.js"
import { useEvent, useHello, useNow, useResource, useThrottled } from "./lib/hooks.js"
import { newIdempotencyKey } from "./lib/ids.js"
import {
  checkParams,
  checkTimeout,
  invokeParams,
  invokePayloadText,
  nodeErrorOf,
  nodeName,
  readNode,
  readNodeList,
  type NodeView
} from "./lib/nodes.js"
import {
  Ago,
  Badge,
  Chips,
  CodeEditor,
  CopyButton,
  Empty,
  ErrorNote,
  Fields,
  Loading,
  NotConnected,
  Page,
  Section,
  goToLine
} from "./lib/parts.js"
import { isRecord } from "./lib/read.js"
import { describeError, mayCall } from "./lib/scopes.js"
import "./pages.css"

type Outcome =
  | {
      readonly _tag: "ok"
      readonly command: string
      readonly nodeName: string
      readonly ms: number
      readonly text: string
      readonly cut: boolean
    }
  | { readonly _tag: "error"; readonly command: string; readonly nodeName: string; readonly ms: number; readonly error: unknown }

const NodeCard = (props: { readonly node: NodeView; readonly now: number; readonly selected: boolean; readonly onChoose: () => void }) => {
  const n = props.node
  const titleId = useId()
  return (
    <li>
      <article class={`pg-card ${props.selected ? "pg-card-selected" : ""}`} aria-labelledby={titleId}>
        <div class="pg-card-head">
          <h3 id={titleId}>{nodeName(n)}</h3>
          {n.connected ? <Badge tone="ok">connected</Badge> : <Badge>offline</Badge>}
          {n.paired ? <Badge tone="accent">paired</Badge> : <Badge tone="warn">not paired</Badge>}
        </div>
        <Fields
          items={[
            [
              "Node id",
              <code key="id" title={n.nodeId}>
                {shortId(n.nodeId, 16)}
              </code>
            ],
            ["Platform", [n.platform, n.deviceFamily].filter(Boolean).join(" · ") || undefined],
            ["Version", n.version],
            ["Client", n.clientId ? `${n.clientId}${n.clientMode ? ` (${n.clientMode})` : ""}` : undefined],
            ["Connected since", n.connected ? <Ago at={n.connectedAtMs} now={props.now} /> : undefined],
            ["Last seen", !n.connected ? <Ago at={n.lastSeenAtMs} now={props.now} fallback="never" /> : undefined],
            ["IP", n.remoteIp],
            ["Commands", String(n.commands.length)]
          ]}
        />
        <button type="button" class="pg-btn" aria-pressed={props.selected} onClick={props.onChoose}>
          Choose {nodeName(n)}
        </button>
      </article>
    </li>
  )
}

const OutcomeView = (props: { readonly outcome: Outcome }) => {
  const o = props.outcome
  if (o._tag === "ok") {
    return (
      <div class="pg-result">
        <p>
          <Badge tone="ok">ok</Badge> <code>{o.command}</code> on {o.nodeName} answered in {o.ms < 1000 ? `${o.ms} ms` : duration(o.ms)}
        </p>
        <textarea
          class="pg-pre pg-readonly"
          readOnly
          aria-label="Payload"
          rows={Math.min(20, o.text.split("\n").length + 1)}
          value={o.text}
        />
        {o.cut ? <p class="pg-muted">The payload is longer than the page shows: only its start is here.</p> : null}
        <CopyButton text={o.text} label="Copy payload" />
      </div>
    )
  }
  const v = describeError(o.error, { method: "node.invoke" })
  const details = isRecord(o.error) ? (o.error as Record<string, unknown>).details : undefined
  const ne = nodeErrorOf(details)
  return (
    <div class="pg-result pg-result-error">
      <p>
        <Badge tone="bad">error</Badge> <code>{o.command}</code> on {o.nodeName}
      </p>
      <ErrorNote error={o.error} method="node.invoke" />
      {ne && ne.code !== v.detailCode ? (
        <p>
          The node said: {ne.code ? <code>{ne.code}</code> : null} {ne.message}
        </p>
      ) : null}
    </div>
  )
}

export const NodesPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const connected = hello.value !== undefined
  const now = useNow(1000)
  const list = useResource(client, async () => readNodeList(await client.call("node.list")))
  const reloadSoon = useThrottled(() => void list.reload(), 1000)
  // Nodes connecting and leaving change presence: the list follows.
  useEvent(client, "presence", reloadSoon)

  const chosenId = useSignal<string | undefined>(undefined)
  const described = useSignal<NodeView | undefined>(undefined)
  const describeError_ = useSignal<unknown>(undefined)
  const command = useSignal("")
  const params = useSignal("")
  const timeout = useSignal("")
  const running = useSignal(false)
  const outcome = useSignal<Outcome | undefined>(undefined)
  const areaRef = useRef<HTMLTextAreaElement>(null)
  const paramsErrorId = useId()
  const timeoutErrorId = useId()
  const nodeSelectId = useId()
  const commandSelectId = useId()
  const timeoutId = useId()

  const nodes = list.data.value ?? []
  const chosen = nodes.find((n) => n.nodeId === chosenId.value)

  // Keep a chosen node, or pick the first connected one.
  useEffect(() => {
    if (chosenId.value !== undefined && nodes.some((n) => n.nodeId === chosenId.value)) return
    const first = nodes.find((n) => n.connected) ?? nodes[0]
    chosenId.value = first?.nodeId
  }, [nodes])

  // What the chosen node declares, from node.describe (the list's copy until it answers).
  useEffect(() => {
    const id = chosenId.value
    described.value = undefined
    describeError_.value = undefined
    if (id === undefined || !connected) return
    let live = true
    client.call("node.describe", { nodeId: id }).then(
      (r) => {
        if (live) described.value = readNode(r)
      },
      (e) => {
        if (live) describeError_.value = e
      }
    )
    return () => {
      live = false
    }
  }, [chosenId.value, connected])

  const info = described.value ?? chosen
  const commands = info?.commands ?? []
  useEffect(() => {
    if (!commands.includes(command.value)) command.value = commands[0] ?? ""
  }, [commands.join("\n")])

  const paramsCheck = checkParams(params.value)
  const timeoutCheck = checkTimeout(timeout.value)
  const mayInvoke = mayCall(client.can, "node.invoke")
  const why = !connected
    ? "Not connected to the Gateway."
    : !mayInvoke
      ? "Invoking needs operator.write, which this browser was not granted."
      : info === undefined
        ? "Choose a node first."
        : !info.connected
          ? "This node is offline: it must connect before it can run a command."
          : command.value === ""
            ? "This node declares no commands."
            : !paramsCheck.ok
              ? "Fix the params first."
              : !timeoutCheck.ok
                ? "Fix the timeout first."
                : undefined

  const invoke = async (e: Event) => {
    e.preventDefault()
    if (why !== undefined || info === undefined || !paramsCheck.ok || !timeoutCheck.ok) return
    running.value = true
    outcome.value = undefined
    const started = Date.now()
    const name = nodeName(info)
    const cmd = command.value
    try {
      const answer = await client.call(
        "node.invoke",
        invokeParams({
          nodeId: info.nodeId,
          command: cmd,
          params: paramsCheck.value,
          timeoutMs: timeoutCheck.value,
          idempotencyKey: newIdempotencyKey()
        })
      )
      outcome.value = { _tag: "ok", command: cmd, nodeName: name, ms: Date.now() - started, ...invokePayloadText(answer) }
    } catch (error) {
      outcome.value = { _tag: "error", command: cmd, nodeName: name, ms: Date.now() - started, error }
    } finally {
      running.value = false
    }
  }

  return (
    <Page
      name="nodes"
      title="Nodes"
      lede="Devices that run commands for the Gateway and its agents."
      actions={
        <button type="button" class="pg-btn" onClick={() => void list.reload()} disabled={!connected}>
          Refresh
        </button>
      }
    >
      {!connected ? <NotConnected /> : null}
      <Section title="Connected and paired">
        {list.error.value !== undefined ? (
          <ErrorNote error={list.error.value} method="node.list" connected={connected} onRetry={() => void list.reload()} />
        ) : list.data.value === undefined ? (
          connected ? (
            <Loading what="nodes" />
          ) : null
        ) : nodes.length === 0 ? (
          <Empty>
            No node has connected yet. Start one on a device with <code>clawgate node run</code> (pointed at this Gateway), then approve it
            on the Devices page.
          </Empty>
        ) : (
          <ul class="pg-cards">
            {nodes.map((n) => (
              <NodeCard
                key={n.nodeId}
                node={n}
                now={now.value}
                selected={n.nodeId === chosenId.value}
                onChoose={() => {
                  chosenId.value = n.nodeId
                }}
              />
            ))}
          </ul>
        )}
      </Section>

      {nodes.length > 0 ? (
        <Section title="Invoke a command">
          <form class="pg-form" onSubmit={invoke} noValidate>
            <div class="pg-row">
              <div class="pg-control">
                <label class="pg-label" for={nodeSelectId}>
                  Node
                </label>
                <select
                  id={nodeSelectId}
                  value={chosenId.value ?? ""}
                  onChange={(e) => {
                    chosenId.value = e.currentTarget.value
                  }}
                >
                  {nodes.map((n) => (
                    <option key={n.nodeId} value={n.nodeId}>
                      {nodeName(n)}
                      {n.connected ? "" : " (offline)"}
                    </option>
                  ))}
                </select>
              </div>
              <div class="pg-control">
                <label class="pg-label" for={commandSelectId}>
                  Command
                </label>
                <select
                  id={commandSelectId}
                  value={command.value}
                  disabled={commands.length === 0}
                  onChange={(e) => {
                    command.value = e.currentTarget.value
                  }}
                >
                  {commands.length === 0 ? <option value="">no commands</option> : null}
                  {commands.map((c) => (
                    <option key={c} value={c}>
                      {c}
                    </option>
                  ))}
                </select>
              </div>
              <div class="pg-control pg-control-narrow">
                <label class="pg-label" for={timeoutId}>
                  Timeout ms
                </label>
                <input
                  id={timeoutId}
                  type="text"
                  inputMode="numeric"
                  placeholder="30000"
                  value={timeout.value}
                  aria-invalid={!timeoutCheck.ok ? "true" : undefined}
                  aria-describedby={!timeoutCheck.ok ? timeoutErrorId : undefined}
                  onInput={(e) => {
                    timeout.value = e.currentTarget.value
                  }}
                />
                {!timeoutCheck.ok ? (
                  <p id={timeoutErrorId} class="pg-field-error">
                    Timeout: {timeoutCheck.message}
                  </p>
                ) : null}
              </div>
            </div>
            {describeError_.value !== undefined ? (
              <ErrorNote error={describeError_.value} method="node.describe" connected={connected} />
            ) : info !== undefined ? (
              <Fields
                class="pg-fields-inline"
                items={[
                  ["Caps", <Chips key="caps" items={info.caps} />],
                  ["Declared commands", <Chips key="cmds" items={info.commands} />]
                ]}
              />
            ) : null}
            <CodeEditor
              label="Params (JSON)"
              value={params}
              rows={6}
              areaRef={areaRef}
              invalid={!paramsCheck.ok}
              describedBy={paramsErrorId}
              {...(!paramsCheck.ok ? { marked: new Set([paramsCheck.line]) } : {})}
            />
            <p id={paramsErrorId} class={paramsCheck.ok ? "pg-hint" : "pg-field-error"}>
              {paramsCheck.ok ? (
                'A JSON value, e.g. {"message": "hello"}; leave it blank for none.'
              ) : (
                <>
                  <button type="button" class="pg-link" onClick={() => goToLine(areaRef.current, paramsCheck.line)}>
                    Line {paramsCheck.line}, column {paramsCheck.column}
                  </button>
                  : {paramsCheck.message}
                </>
              )}
            </p>
            <div class="pg-actions">
              <button type="submit" class="pg-btn pg-btn-primary" disabled={why !== undefined || running.value}>
                {running.value ? "Invoking…" : "Invoke"}
              </button>
              {why !== undefined ? <span class="pg-muted">{why}</span> : null}
            </div>
          </form>
          <div class="pg-live" aria-live="polite">
            {running.value ? (
              <p class="pg-note">
                <span class="pg-spinner" aria-hidden="true" /> Waiting for the node
                {timeoutCheck.ok ? ` (up to ${duration(timeoutCheck.value ?? 30_000)})` : ""}…
              </p>
            ) : outcome.value !== undefined ? (
              <OutcomeView outcome={outcome.value} />
            ) : null}
          </div>
        </Section>
      ) : null}
    </Page>
  )
}

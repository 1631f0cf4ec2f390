/**
 * Security: the findings of the Gateway's security audit (security.audit),
 * critical first, each with what it means and its fix; every command in a
 * fix can be copied, to run on the Gateway host.
 */
import { useSignal } from "@preact/signals"
import { useId } from "preact/hooks"
import type { UiClient } from "../client/types.js"
import { fixCommands, groupBySeverity, readAudit, type FindingView, type Severity } from "./lib/audit.js"
import { useHello, useResource } from "./lib/hooks.js"
import { Badge, CopyButton, Empty, ErrorNote, Loading, NotConnected, Page, Section } from "./lib/parts.js"
import { mayCall, offers } from "./lib/scopes.js"
import "./pages.css"

const TITLES: Record<Severity, string> = { critical: "Critical", warn: "Warnings", info: "Info" }
const TONES: Record<Severity, "bad" | "warn" | "muted"> = { critical: "bad", warn: "warn", info: "muted" }

const Finding = (props: { readonly finding: FindingView }) => {
  const f = props.finding
  const titleId = useId()
  const commands = fixCommands(f.fix)
  return (
    <li>
      <article class={`pg-card pg-finding pg-finding-${f.severity}`} aria-labelledby={titleId}>
        <div class="pg-card-head">
          <h3 id={titleId}>{f.title}</h3>
          <Badge tone={TONES[f.severity]}>{f.severity}</Badge>
        </div>
        {f.detail ? <p>{f.detail}</p> : null}
        {f.fix ? (
          <div class="pg-fix">
            <p>
              <strong>Fix:</strong> {f.fix}
            </p>
            {commands.length > 0 ? (
              <ul class="pg-commands">
                {commands.map((c) => (
                  <li key={c}>
                    <code>{c}</code> <CopyButton text={c} label={`Copy command: ${c}`} />
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        <p class="pg-muted pg-small">
          <code>{f.id}</code>
        </p>
      </article>
    </li>
  )
}

export const SecurityPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const connected = hello.value !== undefined
  const deep = useSignal(false)
  const deepId = useId()
  const ran = useSignal<{ readonly at: number; readonly deep: boolean } | undefined>(undefined)
  const audit = useResource(client, async () => {
    const d = deep.peek()
    const r = readAudit(await client.call("security.audit", d ? { deep: true } : {}))
    ran.value = { at: Date.now(), deep: d }
    return r
  })
  const offered = hello.value === undefined || offers(hello.value, "security.audit")
  const allowed = mayCall(client.can, "security.audit")
  const a = audit.data.value

  return (
    <Page
      name="security"
      title="Security"
      lede="What the Gateway's security audit finds in its config, its files and how it is exposed, and how to fix each."
      actions={
        <>
          <span class="pg-check">
            <input
              id={deepId}
              type="checkbox"
              checked={deep.value}
              onChange={(e) => {
                deep.value = e.currentTarget.checked
              }}
            />
            <label for={deepId}>Deep</label>
          </span>
          <button
            type="button"
            class="pg-btn pg-btn-primary"
            disabled={!connected || !offered || audit.loading.value}
            onClick={() => void audit.reload()}
          >
            {audit.loading.value ? "Auditing…" : "Run audit"}
          </button>
        </>
      }
    >
      {!connected ? <NotConnected /> : null}
      {!offered ? (
        <Empty>
          This Gateway does not offer the audit over the connection: run <code>clawgate security audit</code> on its host.
        </Empty>
      ) : audit.error.value !== undefined ? (
        <ErrorNote error={audit.error.value} method="security.audit" connected={connected} onRetry={() => void audit.reload()} />
      ) : a === undefined ? (
        connected ? (
          allowed || audit.loading.value ? (
            <Loading what="the audit" />
          ) : null
        ) : null
      ) : (
        <>
          <p class="pg-summary" aria-live="polite">
            <Badge tone={a.summary.critical > 0 ? "bad" : "ok"}>{a.summary.critical} critical</Badge>{" "}
            <Badge tone={a.summary.warn > 0 ? "warn" : "muted"}>
              {a.summary.warn} warning{a.summary.warn === 1 ? "" : "s"}
            </Badge>{" "}
            <Badge>{a.summary.info} info</Badge>
            {ran.value ? (
              <span class="pg-muted">
                {" "}
                {ran.value.deep ? "deep audit" : "audit"} run at {new Date(ran.value.at).toLocaleTimeString()}
              </span>
            ) : null}
          </p>
          {a.findings.length === 0 ? (
            <Empty>No findings: nothing to fix.</Empty>
          ) : (
            groupBySeverity(a.findings).map((g) => (
              <Section key={g.severity} title={`${TITLES[g.severity]} (${g.findings.length})`}>
                <ul class="pg-cards pg-cards-wide">
                  {g.findings.map((f) => (
                    <Finding key={f.id} finding={f} />
                  ))}
                </ul>
              </Section>
            ))
          )}
        </>
      )}
    </Page>
  )
}

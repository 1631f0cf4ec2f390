/**
 * Config: the Gateway's config file (secrets redacted by the Gateway: each
 * secret value reads "__CLAWGATE_REDACTED__", and left as it is it keeps the
 * stored secret), an editor that validates with the Gateway's own schema
 * (config.validate) and shows each issue at its path and line, and Save
 * (config.set) that writes only if the file is still what was loaded
 * (baseHash: config.get's hash), else says so and offers Reload.
 */
import { useSignal } from "@preact/signals"
import { useEffect, useId, useRef } from "preact/hooks"
import type { UiClient } from "../client/types.js"
import { issueLine, readIssues, type ConfigIssue } from "./lib/configPaths.js"
import { useHello, useResource } from "./lib/hooks.js"
import { CodeEditor, ErrorNote, Loading, NotConnected, Page, Section, goToLine } from "./lib/parts.js"
import { bool, isRecord, str } from "./lib/read.js"
import { describeError, mayCall, offers } from "./lib/scopes.js"
import "./pages.css"

export const REDACTED = "__CLAWGATE_REDACTED__"

interface Loaded {
  readonly path?: string | undefined
  readonly exists: boolean
  readonly valid: boolean
  readonly hash?: string | undefined
  readonly issues: ReadonlyArray<ConfigIssue>
  readonly text: string
}

const readConfigGet = (v: unknown): Loaded => {
  const r = isRecord(v) ? v : {}
  const config = r.config
  let text = ""
  if (typeof r.raw === "string") text = r.raw
  else if (config !== undefined && config !== null) text = `${JSON.stringify(config, null, 2)}\n`
  else if (r.exists === false) text = "{}\n"
  return {
    path: str(r.path, 1000),
    exists: bool(r.exists) ?? true,
    valid: bool(r.valid) ?? true,
    hash: str(r.hash, 200),
    issues: readIssues(r.issues),
    text
  }
}

type Outcome =
  | { readonly _tag: "valid" }
  | { readonly _tag: "invalid"; readonly issues: ReadonlyArray<ConfigIssue>; readonly saving: boolean }
  | { readonly _tag: "saved"; readonly restartRequired: boolean }
  | { readonly _tag: "changed" }
  | { readonly _tag: "error"; readonly method: string; readonly error: unknown }

export const ConfigPage = (props: { readonly client: UiClient }) => {
  const { client } = props
  const hello = useHello(client)
  const connected = hello.value !== undefined
  const loaded = useResource(client, async () => readConfigGet(await client.call("config.get")))
  /** What the editor's text is based on: its hash is the baseHash a save sends. */
  const base = useSignal<Loaded | undefined>(undefined)
  const text = useSignal("")
  const outcome = useSignal<Outcome | undefined>(undefined)
  const busy = useSignal<"validate" | "save" | "reload" | undefined>(undefined)
  const areaRef = useRef<HTMLTextAreaElement>(null)
  const issuesId = useId()

  const dirty = base.value !== undefined && text.value !== base.value.text

  // A fresh load becomes the editor's base unless the person has edits in it (a reconnect must not wipe them).
  useEffect(() => {
    const l = loaded.data.value
    if (l === undefined) return
    if (base.peek() === undefined || text.peek() === base.peek()?.text) {
      base.value = l
      text.value = l.text
    }
  }, [loaded.data.value])

  /** Replaces the editor's text with the file as it is now (the editor is read-only meanwhile, so no keystroke is lost to it). */
  const reload = async () => {
    busy.value = "reload"
    try {
      await loaded.reload()
      const l = loaded.data.peek()
      if (l !== undefined) {
        base.value = l
        text.value = l.text
        outcome.value = undefined
      }
    } finally {
      busy.value = undefined
    }
  }

  const mayValidate = offers(hello.value, "config.validate") && mayCall(client.can, "config.validate")
  const maySave = offers(hello.value, "config.set") && mayCall(client.can, "config.set")
  const b = base.value
  const saveWhy = !connected
    ? "Not connected."
    : !offers(hello.value, "config.set")
      ? "This Gateway does not offer config.set: edit the file on its host."
      : !mayCall(client.can, "config.set")
        ? "Saving needs operator.admin, which this browser was not granted."
        : b?.hash === undefined
          ? "The Gateway gave no hash for the file (it could not read it): fix it on the host first."
          : !dirty
            ? "No changes to save."
            : undefined

  const validate = async () => {
    busy.value = "validate"
    try {
      const r = await client.call("config.validate", { raw: text.value })
      const issues = readIssues(isRecord(r) ? r.issues : undefined)
      outcome.value = isRecord(r) && r.ok === true && issues.length === 0 ? { _tag: "valid" } : { _tag: "invalid", issues, saving: false }
    } catch (error) {
      outcome.value = { _tag: "error", method: "config.validate", error }
    } finally {
      busy.value = undefined
    }
  }

  const save = async () => {
    if (b?.hash === undefined) return
    busy.value = "save"
    try {
      const r = await client.call("config.set", { raw: text.value, baseHash: b.hash })
      outcome.value = { _tag: "saved", restartRequired: isRecord(r) && r.restartRequired === true }
      await loaded.reload()
      const l = loaded.data.peek()
      if (l !== undefined) {
        base.value = l
        text.value = l.text
      }
    } catch (error) {
      const v = describeError(error)
      const details = isRecord(error) ? (error as Record<string, unknown>).details : undefined
      if (v.detailCode === "CONFIG_CHANGED") outcome.value = { _tag: "changed" }
      else if (v.detailCode === "CONFIG_INVALID") {
        outcome.value = { _tag: "invalid", issues: readIssues(isRecord(details) ? details.issues : undefined), saving: true }
      } else outcome.value = { _tag: "error", method: "config.set", error }
    } finally {
      busy.value = undefined
    }
  }

  const o = outcome.value
  const shownIssues: ReadonlyArray<ConfigIssue> = o?._tag === "invalid" ? o.issues : !dirty && b && !b.valid ? b.issues : []
  const located = shownIssues
    .map((i) => ({ ...i, line: issueLine(text.value, i) }))
    .sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER))
  const marked = new Set(located.flatMap((i) => (i.line !== undefined ? [i.line] : [])))

  return (
    <Page
      name="config"
      title="Config"
      lede={
        <>
          {b?.path ? (
            <>
              <code>{b.path}</code>
              {b.exists ? "" : " (not created yet: saving creates it)"}.{" "}
            </>
          ) : null}
          Secrets show as <code>{REDACTED}</code>: leave them as they are to keep the stored secret.
        </>
      }
    >
      {!connected ? <NotConnected /> : null}
      {loaded.error.value !== undefined && b === undefined ? (
        <ErrorNote error={loaded.error.value} method="config.get" connected={connected} onRetry={() => void loaded.reload()} />
      ) : b === undefined ? (
        connected ? (
          <Loading what="the config" />
        ) : null
      ) : (
        <>
          {!b.valid ? (
            <div class="pg-warn-note" role="note">
              The file on the Gateway is not valid: it is shown below as far as the Gateway could read it, with its issues.
            </div>
          ) : null}
          <Section title="Edit">
            <CodeEditor
              label="Config"
              value={text}
              rows={22}
              areaRef={areaRef}
              marked={marked}
              invalid={located.length > 0}
              describedBy={located.length > 0 ? issuesId : undefined}
              readOnly={!maySave || busy.value === "reload" || busy.value === "save"}
              onInput={() => {
                if (outcome.peek()?._tag !== "changed") outcome.value = undefined
              }}
            />
            <div class="pg-actions">
              <button
                type="button"
                class="pg-btn"
                disabled={!connected || !mayValidate || busy.value !== undefined}
                title={!mayValidate ? "This Gateway does not offer config.validate, or this browser may not call it" : undefined}
                onClick={() => void validate()}
              >
                {busy.value === "validate" ? "Validating…" : "Validate"}
              </button>
              <button
                type="button"
                class="pg-btn pg-btn-primary"
                disabled={saveWhy !== undefined || busy.value !== undefined}
                onClick={() => void save()}
              >
                {busy.value === "save" ? "Saving…" : "Save"}
              </button>
              <button
                type="button"
                class="pg-btn"
                disabled={!dirty || busy.value !== undefined}
                onClick={() => {
                  text.value = b.text
                  outcome.value = undefined
                }}
              >
                Discard changes
              </button>
              {dirty ? <span class="pg-badge pg-badge-warn">unsaved changes</span> : null}
              {saveWhy !== undefined && saveWhy !== "No changes to save." ? <span class="pg-muted">{saveWhy}</span> : null}
            </div>
            <div class="pg-live" aria-live="polite">
              {o?._tag === "valid" ? <p class="pg-ok-note">Valid: the Gateway accepts this config.</p> : null}
              {o?._tag === "saved" ? (
                <p class="pg-ok-note">
                  Saved.{" "}
                  {o.restartRequired
                    ? "Some changes take effect only after the Gateway restarts: stop it and start it again (clawgate gateway run)."
                    : "The Gateway applies it now."}
                </p>
              ) : null}
              {o?._tag === "changed" ? (
                <div class="pg-error" role="alert">
                  <p class="pg-error-title">The config changed since you loaded it: reload</p>
                  <p>
                    Someone (or something) wrote the file meanwhile. Reloading shows the new file and discards your edits here: copy them
                    first to keep them.
                  </p>
                  <button type="button" class="pg-btn pg-btn-primary" disabled={busy.value !== undefined} onClick={() => void reload()}>
                    Reload
                  </button>
                </div>
              ) : null}
              {o?._tag === "error" ? <ErrorNote error={o.error} method={o.method} connected={connected} /> : null}
              {located.length > 0 ? (
                <div id={issuesId} class="pg-issues">
                  <p class="pg-error-title">
                    {o?._tag === "invalid" && o.saving ? "Not saved: " : ""}
                    {located.length === 1 ? "1 issue" : `${located.length} issues`}
                  </p>
                  <ul>
                    {located.map((i) => (
                      <li key={`${i.path}|${i.message}`}>
                        {i.line !== undefined ? (
                          <button type="button" class="pg-link" onClick={() => goToLine(areaRef.current, i.line ?? 1)}>
                            {i.path}
                          </button>
                        ) : (
                          <code>{i.path}</code>
                        )}
                        : {i.message}
                        {i.line !== undefined ? <span class="pg-muted"> (line {i.line})</span> : null}
                      </li>
                    ))}
                  </ul>
                </div>
              ) : null}
            </div>
          </Section>
          <Section title="As loaded">
            <details class="pg-details">
              <summary>Show the config as the Gateway sent it (read-only)</summary>
              <textarea class="pg-pre pg-readonly" readOnly aria-label="Config as loaded" rows={16} value={b.text} wrap="off" />
            </details>
          </Section>
        </>
      )}
    </Page>
  )
}

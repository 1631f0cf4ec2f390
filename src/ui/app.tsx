/**
 * The Control UI's shell: a header with the product name, the connection
 * state in words (always visible; changes announced politely), the
 * Gateway's version and the account menu; the main navigation (hash routes,
 * a horizontal scroller on a narrow screen); and the main view: the login
 * form, the pairing wait, a failure and what to do, or the page.
 */
import { useComputed, useSignal, useSignalEffect } from "@preact/signals"
import { useEffect, useRef } from "preact/hooks"
import type { TargetedSubmitEvent } from "preact"
import type { Connection } from "./client/connection.js"
import { describeState } from "./client/describe.js"
import { TOKEN_HINT } from "./client/refusal.js"
import { PAGE_TITLES, PAGES, type PageId, parseRoute, type Route, routeHref } from "./client/routes.js"
import type { HelloOk, UiClient } from "./client/types.js"
import { Button } from "./components/Button.js"
import { CodeLine } from "./components/CodeLine.js"
import { Prose } from "./components/Prose.js"
import { ChannelsPage } from "./pages/channels.js"
import { ChatPage } from "./pages/chat.js"
import { ConfigPage } from "./pages/config.js"
import { DevicesPage } from "./pages/devices.js"
import { LogsPage } from "./pages/logs.js"
import { NodesPage } from "./pages/nodes.js"
import { OverviewPage } from "./pages/overview.js"
import { SecurityPage } from "./pages/security.js"

const PAGE_COMPONENTS: Record<Exclude<PageId, "chat">, (p: { readonly client: UiClient }) => preact.JSX.Element> = {
  overview: OverviewPage,
  nodes: NodesPage,
  devices: DevicesPage,
  channels: ChannelsPage,
  logs: LogsPage,
  config: ConfigPage,
  security: SecurityPage
}

const useRoute = () => {
  const route = useSignal<Route>(parseRoute(location.hash))
  useEffect(() => {
    const on = () => (route.value = parseRoute(location.hash))
    window.addEventListener("hashchange", on)
    return () => window.removeEventListener("hashchange", on)
  }, [])
  return route
}

/** The wall clock, ticking once a second only while `active` (the reconnect countdown). */
const useNow = (active: boolean) => {
  const now = useSignal(Date.now())
  useEffect(() => {
    if (!active) return
    now.value = Date.now()
    const t = setInterval(() => (now.value = Date.now()), 1000)
    return () => clearInterval(t)
  }, [active])
  return now
}

const AccountMenu = ({ client }: { client: Connection }) => {
  const open = useSignal(false)
  const root = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!open.value) return
    const onDoc = (e: Event) => {
      if (root.current && !root.current.contains(e.target as Node)) open.value = false
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") open.value = false
    }
    document.addEventListener("click", onDoc)
    document.addEventListener("keydown", onKey)
    return () => {
      document.removeEventListener("click", onDoc)
      document.removeEventListener("keydown", onKey)
    }
  }, [open.value])
  const deviceId = client.deviceId()
  return (
    <div class="menu" ref={root}>
      <Button kind="secondary" aria-expanded={open.value} aria-controls="account-menu" onClick={() => (open.value = !open.value)}>
        Account
      </Button>
      <div id="account-menu" class="menu-panel" hidden={!open.value}>
        {deviceId ? (
          <p class="muted">
            This browser's device: <code>{deviceId.slice(0, 12)}</code>
          </p>
        ) : null}
        <Button
          onClick={() => {
            open.value = false
            void client.logout()
          }}
        >
          Log out
        </Button>
        <Button
          kind="danger"
          onClick={() => {
            open.value = false
            void client.logout({ identity: true })
          }}
        >
          Log out and forget this browser's key
        </Button>
        <p class="muted small">
          Logging out forgets this browser's device token. The device stays paired on the Gateway until it is removed there (Devices page).
        </p>
      </div>
    </div>
  )
}

const Header = ({ client, hello }: { client: Connection; hello: HelloOk | undefined }) => {
  const s = client.state.value
  const now = useNow(s._tag === "reconnecting")
  const d = describeState(s, now.value)
  return (
    <header class="top">
      <a class="brand" href={routeHref("chat")}>
        clawgate
      </a>
      <p class="conn">
        <span class={`dot dot-${d.tone}`} aria-hidden="true" />
        <span class="conn-text" data-state={s._tag}>
          {d.text}
        </span>
        <span class="sr-only" role="status" aria-live="polite">
          {d.announce}
        </span>
      </p>
      {hello ? (
        <span class="version" title="The Gateway's version">
          v{hello.server.version}
        </span>
      ) : null}
      {s._tag === "connected" || s._tag === "reconnecting" || s._tag === "pairing" ? <AccountMenu client={client} /> : null}
    </header>
  )
}

const Nav = ({ current }: { current: PageId }) => (
  <nav aria-label="Main" class="nav">
    <ul>
      {PAGES.map((p) => (
        <li key={p}>
          <a href={routeHref(p)} aria-current={p === current ? "page" : undefined}>
            {PAGE_TITLES[p]}
          </a>
        </li>
      ))}
    </ul>
  </nav>
)

const LoginView = ({
  client,
  error,
  prefer
}: {
  client: Connection
  error?: string | undefined
  prefer?: "token" | "password" | undefined
}) => {
  const kind = useSignal<"token" | "password">(prefer ?? "token")
  const secret = useSignal("")
  useEffect(() => {
    if (prefer) kind.value = prefer
  }, [prefer])
  const submit = (e: TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault()
    const value = secret.value.trim()
    if (value === "") return
    secret.value = ""
    client.login(kind.value === "token" ? { token: value } : { password: value })
  }
  return (
    <section class="panel narrow" aria-labelledby="login-title">
      <h1 id="login-title">Log in to the Gateway</h1>
      <form onSubmit={submit} class="form">
        <fieldset class="choice">
          <legend>Log in with</legend>
          <label>
            <input type="radio" name="kind" checked={kind.value === "token"} onChange={() => (kind.value = "token")} /> Token
          </label>
          <label>
            <input type="radio" name="kind" checked={kind.value === "password"} onChange={() => (kind.value = "password")} /> Password
          </label>
        </fieldset>
        <label class="field">
          <span>{kind.value === "token" ? "Gateway token" : "Gateway password"}</span>
          <input
            type="password"
            autocomplete={kind.value === "token" ? "off" : "current-password"}
            spellcheck={false}
            value={secret.value}
            onInput={(e) => (secret.value = e.currentTarget.value)}
            aria-describedby="login-help"
            required
          />
        </label>
        {error ? (
          <p class="error-text" role="alert">
            <Prose text={error} />
          </p>
        ) : null}
        <Button kind="primary" type="submit">
          Connect
        </Button>
        <p id="login-help" class="muted small">
          <Prose text={TOKEN_HINT} /> The token or password stays in this tab's memory only; this browser then pairs as a device and keeps
          the device token the Gateway gives it.
        </p>
      </form>
    </section>
  )
}

const PairingView = ({ requestId, deviceId }: { requestId: string; deviceId: string }) => (
  <section class="panel narrow" aria-labelledby="pairing-title">
    <h1 id="pairing-title">Waiting for approval</h1>
    <p>This browser is a new device for this Gateway. An operator approves it on the Gateway's host:</p>
    <CodeLine text={requestId ? `clawgate devices approve ${requestId}` : "clawgate devices list"} />
    {requestId ? (
      <p class="muted small">
        Request <code>{requestId}</code>. It can also be approved on the Devices page of a browser that is already connected.
      </p>
    ) : (
      <p class="muted small">Approve the pending request for this device from the list.</p>
    )}
    {deviceId ? (
      <p>
        This browser's device id starts with <code>{deviceId.slice(0, 12)}</code>: check that the request you approve is for it.
      </p>
    ) : null}
    <p role="status">This page connects by itself once approved.</p>
  </section>
)

const FailedView = ({ client, message }: { client: Connection; message: string }) => (
  <section class="panel narrow" aria-labelledby="failed-title">
    <h1 id="failed-title">Not connected</h1>
    <p class="error-text" role="alert">
      <Prose text={message} />
    </p>
    <Button kind="primary" onClick={() => client.retry()}>
      Try again
    </Button>
  </section>
)

const ConnectingView = ({ reason }: { reason?: string | undefined }) => (
  <section class="panel narrow" aria-labelledby="connecting-title">
    <h1 id="connecting-title">Connecting to the Gateway…</h1>
    {reason ? <p class="muted">Last attempt: {reason}.</p> : null}
  </section>
)

const ReconnectBanner = ({ client, reason }: { client: Connection; reason: string }) => (
  <div class="banner" role="note">
    <p>Connection lost: {reason}. What is on screen stays, and is brought up to date once the page reconnects.</p>
    <Button onClick={() => client.retry()}>Reconnect now</Button>
  </div>
)

export const App = ({ client }: { client: Connection }) => {
  const route = useRoute()
  const lastHello = useSignal<HelloOk | undefined>(undefined)
  const everConnected = useSignal(false)
  useSignalEffect(() => {
    const s = client.state.value
    if (s._tag === "connected") {
      lastHello.value = s.hello
      everConnected.value = true
    } else if (s._tag === "login" || s._tag === "failed" || s._tag === "pairing") {
      everConnected.value = false
    }
  })
  const title = useComputed(() => `${PAGE_TITLES[route.value.page]} · clawgate`)
  useSignalEffect(() => {
    document.title = title.value
  })

  const s = client.state.value
  const r = route.value
  let body: preact.JSX.Element
  if (s._tag === "login") body = <LoginView client={client} error={s.error} prefer={s.prefer} />
  else if (s._tag === "pairing") body = <PairingView requestId={s.requestId} deviceId={s.deviceId} />
  else if (s._tag === "failed") body = <FailedView client={client} message={s.message} />
  else if (!everConnected.value) body = <ConnectingView reason={s._tag === "reconnecting" ? s.reason : undefined} />
  else if (r.page === "chat") body = <ChatPage client={client} sessionKey={r.arg} />
  else {
    const Page = PAGE_COMPONENTS[r.page]
    body = <Page client={client} />
  }

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header client={client} hello={lastHello.value} />
      <Nav current={r.page} />
      <main id="main" tabIndex={-1} class={r.page === "chat" && everConnected.value ? "main main-chat" : "main"}>
        {s._tag === "reconnecting" && everConnected.value ? <ReconnectBanner client={client} reason={s.reason} /> : null}
        {body}
      </main>
    </div>
  )
}

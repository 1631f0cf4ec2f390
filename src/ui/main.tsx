/**
 * The Control UI's entry point. Before anything touches the network, a
 * credential in the URL fragment (`#token=`, `#bootstrapToken=`) is read and
 * removed from the address bar (history.replaceState), so it stays in
 * neither the history nor a screenshot. Then the connection to the page's
 * own Gateway starts and the app renders into #app (or the body).
 */
import "./styles.css"
import { render } from "preact"
import { App } from "./app.js"
import { makeBrowserConnection } from "./client/browser.js"
import { readFragment } from "./client/fragment.js"

const fragment = readFragment(location.hash)
if (fragment.changed) history.replaceState(history.state, "", `${location.pathname}${location.search}${fragment.hash}`)

const client = makeBrowserConnection(fragment.credential)
const root = document.getElementById("app") ?? document.body
render(<App client={client} />, root)
client.start()

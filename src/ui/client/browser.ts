/**
 * The connection as a browser page makes it: the WebSocket URL from the
 * page's own location (never from a query parameter or the fragment), the
 * IndexedDB store, and what the page says about itself in `connect`.
 */
import { type Connection, makeConnection, type SocketLike } from "./connection.js"
import type { FragmentCredential } from "./fragment.js"
import { openBrowserStore } from "./identity.js"
import { gatewaySocketUrl } from "./browser-url.js"
import { randomId } from "./random.js"

const familyOf = (ua: string): string =>
  /iPhone/.test(ua)
    ? "iPhone"
    : /iPad/.test(ua)
      ? "iPad"
      : /Android/.test(ua)
        ? "Android"
        : /Mac OS X|Macintosh/.test(ua)
          ? "Mac"
          : /Windows/.test(ua)
            ? "Windows"
            : /CrOS/.test(ua)
              ? "ChromeOS"
              : /Linux/.test(ua)
                ? "Linux"
                : "Browser"

const browserOf = (ua: string): string =>
  /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chrom(e|ium)\//.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : "Browser"

export const makeBrowserConnection = (initialCredential: FragmentCredential | undefined): Connection => {
  const url = gatewaySocketUrl(location.href)
  const base = new URL(".", location.href)
  const scopeKey = `${base.origin}${base.pathname}`
  const log = (message: string) => console.info(`[clawgate] ${message}`)
  const ua = navigator.userAgent ?? ""
  const family = familyOf(ua)
  return makeConnection({
    url,
    origin: location.origin,
    // The DOM WebSocket has this shape; its handler properties are typed with DOM events, hence the cast.
    openSocket: (u) => new WebSocket(u) as unknown as SocketLike,
    store: openBrowserStore(scopeKey, log),
    client: {
      platform: "web",
      deviceFamily: family,
      displayName: `Control UI (${browserOf(ua)} on ${family})`,
      instanceId: randomId(),
      userAgent: ua,
      locale: navigator.language
    },
    initialCredential,
    // The page's own directory answers HTTP when the Gateway is up: then a refused upgrade is the origin check or a proxy.
    probeHttp: () =>
      fetch(base.toString(), { method: "HEAD", cache: "no-store", credentials: "same-origin" }).then(
        (r) => r.status < 500,
        () => false
      ),
    log
  })
}

/** Where the page's WebSocket goes: derived from the page's own address only. */

/**
 * The Gateway's WebSocket: this page's origin, with the scheme swapped, at
 * the directory the page was served from (its base path, so a reverse proxy
 * that serves the UI under /clawgate/ gets the upgrade there too). Query and
 * fragment are dropped: `new URL(".", href)` resolves without them.
 */
export const gatewaySocketUrl = (href: string): string => {
  const u = new URL(".", href)
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:"
  u.search = ""
  u.hash = ""
  return u.toString()
}

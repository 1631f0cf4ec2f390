/**
 * Credentials that arrive in the URL fragment, read once at start-up:
 * `#token=...` (a dashboard link in OpenClaw's style) and
 * `#bootstrapToken=...` (the one-time link `clawgate dashboard` prints).
 * The fragment never reaches a server, but it stays in the address bar, the
 * history and screenshots, so main.tsx replaces it (history.replaceState)
 * before anything touches the network.
 *
 * Every other key is ignored, `gatewayUrl` included: the page only ever
 * connects to the origin that served it, whatever a link says.
 */

/** Longer than any token the Gateway issues; a longer value is not a credential of ours. */
export const MAX_FRAGMENT_CREDENTIAL = 4096

export type FragmentCredential = { readonly token: string } | { readonly bootstrapToken: string }

export interface FragmentRead {
  /** The credential the link carried, if any (a bootstrap token wins over a token, as on OpenClaw). */
  readonly credential: FragmentCredential | undefined
  /**
   * The fragment to leave in the address bar: the route when the fragment was
   * one (`#/chat`), else "" (so a link's keys, credential or not, are gone).
   */
  readonly hash: string
  /** Whether the address bar must be rewritten. */
  readonly changed: boolean
}

const credentialValue = (params: URLSearchParams, key: string): string | undefined => {
  const v = params.get(key)?.trim()
  return v && v.length <= MAX_FRAGMENT_CREDENTIAL && !/[\s\u0000-\u001f]/.test(v) ? v : undefined
}

/** Reads `location.hash` (with or without its leading "#"). */
export const readFragment = (rawHash: string): FragmentRead => {
  const hash = rawHash.startsWith("#") ? rawHash.slice(1) : rawHash
  // A route (`#/chat`) is left alone: routes never carry credentials.
  if (hash === "" || hash.startsWith("/")) return { credential: undefined, hash: rawHash === "" ? "" : `#${hash}`, changed: false }
  let params: URLSearchParams
  try {
    params = new URLSearchParams(hash)
  } catch {
    return { credential: undefined, hash: "", changed: true }
  }
  const bootstrapToken = credentialValue(params, "bootstrapToken")
  const token = credentialValue(params, "token")
  const credential = bootstrapToken !== undefined ? { bootstrapToken } : token !== undefined ? { token } : undefined
  return { credential, hash: "", changed: true }
}

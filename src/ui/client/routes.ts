/**
 * The hash routes: `#/chat`, `#/overview`, ... (`#/chat/<session key>` opens
 * one chat). Anything else, credentials fragments included (main.tsx has
 * removed those by then), is the default page, Chat.
 */

export const PAGES = ["chat", "overview", "nodes", "devices", "channels", "logs", "config", "security"] as const
export type PageId = (typeof PAGES)[number]

export const PAGE_TITLES: Record<PageId, string> = {
  chat: "Chat",
  overview: "Overview",
  nodes: "Nodes",
  devices: "Devices",
  channels: "Channels",
  logs: "Logs",
  config: "Config",
  security: "Security"
}

export interface Route {
  readonly page: PageId
  /** What follows the page: `#/chat/<key>`'s session key, decoded. */
  readonly arg?: string
}

export const parseRoute = (hash: string): Route => {
  const h = hash.startsWith("#") ? hash.slice(1) : hash
  if (!h.startsWith("/")) return { page: "chat" }
  const [, first = "", ...rest] = h.split("/")
  const page = (PAGES as ReadonlyArray<string>).includes(first) ? (first as PageId) : "chat"
  if (page !== first || rest.length === 0) return { page }
  let arg: string
  try {
    arg = decodeURIComponent(rest.join("/"))
  } catch {
    return { page }
  }
  return arg === "" || arg.length > 512 ? { page } : { page, arg }
}

export const routeHref = (page: PageId, arg?: string): string => `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ""}`

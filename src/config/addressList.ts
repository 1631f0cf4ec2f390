/**
 * Lists of addresses and CIDRs, IPv4 and IPv6 (`gateway.trustedProxies`),
 * matched by Node's `net.BlockList`. Each list is parsed once into a
 * BlockList; a lookup is one `check`. Pure, apart from a small memo.
 */
import { Either } from "effect"
import * as net from "node:net"
import { normalizeIp } from "./ip.js"

/** One entry of a list: an address (`10.0.0.5`, `::1`) or a CIDR (`10.0.0.0/8`, `fd7a:115c:a1e0::/48`). */
export interface AddressEntry {
  readonly address: string
  readonly family: "ipv4" | "ipv6"
  /** The CIDR prefix length; undefined for a single address. */
  readonly prefix: number | undefined
}

const EXAMPLES = "an address such as 10.0.0.5 or fd7a:115c:a1e0::1, or a CIDR such as 10.0.0.0/8 or fd7a:115c:a1e0::/48"
/** Long enough for any IPv6 address with a zone and a prefix; an entry past it is not an address. */
const MAX_ENTRY_LENGTH = 100

const quoted = (entry: string) => JSON.stringify(entry.length > 60 ? `${entry.slice(0, 60)}…` : entry)

const add = (list: net.BlockList, e: AddressEntry) =>
  e.prefix === undefined ? list.addAddress(e.address, e.family) : list.addSubnet(e.address, e.prefix, e.family)

/**
 * Parses one entry, or says what is wrong with it in words a person can act
 * on. An IPv4-mapped IPv6 entry (`::ffff:10.0.0.5`) is kept as written:
 * BlockList matches it against the IPv4 address too.
 */
export const parseAddressEntry = (entry: string): Either.Either<AddressEntry, string> => {
  if (entry.trim() === "") return Either.left(`${quoted(entry)} is empty: write ${EXAMPLES}`)
  if (entry.length <= MAX_ENTRY_LENGTH && entry !== entry.trim() && parseAddressEntry(entry.trim())._tag === "Right") {
    return Either.left(`${quoted(entry)} has spaces around it: write ${quoted(entry.trim())}`)
  }
  if (entry.length > MAX_ENTRY_LENGTH || entry !== entry.trim()) {
    return Either.left(`${quoted(entry)} is not an IP address or CIDR: write ${EXAMPLES}`)
  }
  const slash = entry.indexOf("/")
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const prefixText = slash === -1 ? undefined : entry.slice(slash + 1)
  const version = net.isIP(address)
  if (version === 0) return Either.left(`${quoted(entry)} is not an IP address or CIDR: write ${EXAMPLES}`)
  const family = version === 4 ? "ipv4" : "ipv6"
  const bits = version === 4 ? 32 : 128
  let prefix: number | undefined
  if (prefixText !== undefined) {
    prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN
    if (!(prefix >= 0 && prefix <= bits)) {
      return Either.left(
        `${quoted(entry)} has the prefix /${prefixText}, but an ${version === 4 ? "IPv4" : "IPv6"} prefix is a whole number from 0 to ${bits}`
      )
    }
  }
  const parsed: AddressEntry = { address, family, prefix }
  // What BlockList refuses is refused here too, so a list that validated always builds.
  try {
    add(new net.BlockList(), parsed)
  } catch (e) {
    return Either.left(`${quoted(entry)} is not usable as an address: ${e instanceof Error ? e.message : String(e)}`)
  }
  return Either.right(parsed)
}

/** Why `entry` is not a valid list entry, or undefined when it is. */
export const addressEntryProblem = (entry: string): string | undefined =>
  Either.match(parseAddressEntry(entry), { onLeft: (reason) => reason, onRight: () => undefined })

export interface AddressList {
  /** The entries as configured. */
  readonly entries: ReadonlyArray<string>
  /**
   * Whether `ip` is in the list. The address is normalised first (`::ffff:a.b.c.d`
   * is `a.b.c.d`), and an IPv4 address also matches IPv4-mapped IPv6 entries
   * and prefixes that cover them (`::ffff:0:0/96`, `::/0`). Anything that is
   * not an address matches nothing.
   */
  readonly matches: (ip: string | undefined) => boolean
}

/**
 * Builds the BlockList for `entries`. Config validation refuses an entry that
 * does not parse (see `parseAddressEntry`); one that reaches here anyway
 * matches nothing, so a bad entry can never trust more than was written.
 */
export const makeAddressList = (entries: ReadonlyArray<string>): AddressList => {
  const list = new net.BlockList()
  let size = 0
  for (const entry of entries) {
    const parsed = parseAddressEntry(entry)
    if (Either.isRight(parsed)) {
      add(list, parsed.right)
      size++
    }
  }
  return {
    entries,
    matches: (ip) => {
      if (size === 0) return false
      const addr = normalizeIp(ip)
      const version = net.isIP(addr)
      if (version === 0) return false
      try {
        return list.check(addr, version === 4 ? "ipv4" : "ipv6")
      } catch {
        return false
      }
    }
  }
}

const EMPTY: AddressList = makeAddressList([])
// A config keeps its arrays until it changes, so the list is built once per config. A store that
// decodes afresh on every read (ConfigMemory) gets the same list back through its contents.
const byArray = new WeakMap<ReadonlyArray<string>, AddressList>()
const byContents = new Map<string, AddressList>()
const MAX_BY_CONTENTS = 16

/** The AddressList for `entries`, built on first use and reused while the config holds the same entries. */
export const addressList = (entries: ReadonlyArray<string> | undefined): AddressList => {
  if (entries === undefined || entries.length === 0) return EMPTY
  const known = byArray.get(entries)
  if (known !== undefined) return known
  const key = JSON.stringify(entries)
  let list = byContents.get(key)
  if (list === undefined) {
    list = makeAddressList([...entries])
    if (byContents.size >= MAX_BY_CONTENTS) {
      const oldest = byContents.keys().next()
      if (!oldest.done) byContents.delete(oldest.value)
    }
    byContents.set(key, list)
  }
  byArray.set(entries, list)
  return list
}

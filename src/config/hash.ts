/**
 * The config's `hash`, as `config.get` reports it and `config.set` checks it:
 * SHA-256 of the file's parsed value (so reformatting or a comment is no
 * change; a value is).
 */
import { createHash } from "node:crypto"

export const configHash = (raw: unknown): string => createHash("sha256").update(JSON.stringify(raw)).digest("hex")

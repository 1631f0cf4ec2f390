/**
 * The audit's rules about files and permissions: the config, the state
 * directory and the files in it that hold secrets or records, checked for
 * modes that let another user read or change them (skipped on Windows, where
 * ACLs decide and this audit does not read them).
 */
import * as path from "node:path"
import type { ClawgateConfig } from "../../config/schema.js"
import type { AuditFacts, FileFact, FileKind, Finding } from "./types.js"

/**
 * The files whose modes are checked, by `security audit` and `clawgate doctor` alike (which
 * also repairs them): the config, the state dir, and what in it holds secrets or records.
 */
export const stateFiles = (cfg: ClawgateConfig, configPath: string, stateDir: string): Array<readonly [FileKind, string]> => [
  ["config", configPath],
  ["stateDir", stateDir],
  ["deviceKey", path.join(stateDir, "identity", "device.json")],
  ["deviceTokens", path.join(stateDir, "identity", "device-tokens.json")],
  ["tlsKey", cfg.gateway?.tls?.keyPath ?? path.join(stateDir, "tls", "gateway-key.pem")],
  ["database", path.join(stateDir, "clawgate.sqlite")],
  ["database", path.join(stateDir, "clawgate.sqlite-wal")],
  ["database", path.join(stateDir, "clawgate.sqlite-shm")],
  ["logs", path.join(stateDir, "logs")],
  ["log", path.join(stateDir, "logs", "gateway.log")],
  ["lockOwner", path.join(stateDir, "gateway.lock.json")]
]

const FILE_LABEL: Record<FileKind, string> = {
  config: "config file",
  stateDir: "state directory",
  deviceKey: "device key",
  deviceTokens: "device token store",
  tlsKey: "TLS private key",
  database: "SQLite database",
  log: "Gateway log",
  logs: "logs directory",
  lockOwner: "lock owner file"
}

const FILE_ID: Record<FileKind, string> = {
  config: "fs.config",
  stateDir: "fs.state_dir",
  deviceKey: "fs.device_key",
  deviceTokens: "fs.device_tokens",
  tlsKey: "fs.tls_key",
  database: "fs.database",
  log: "fs.log",
  logs: "fs.logs",
  lockOwner: "fs.lock_owner"
}

const octal = (mode: number) => "0" + (mode & 0o777).toString(8).padStart(3, "0")
const quote = (p: string) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`)

const fileFindings = (file: FileFact, configHasSecret: boolean): Array<Finding> => {
  const label = FILE_LABEL[file.kind]
  const id = FILE_ID[file.kind]
  const want = file.isDirectory ? 0o700 : 0o600
  const fix = `chmod ${file.isDirectory ? "700" : "600"} ${quote(file.path)}`
  const groupWritable = (file.mode & 0o020) !== 0
  const worldWritable = (file.mode & 0o002) !== 0
  const groupReadable = (file.mode & 0o040) !== 0
  const worldReadable = (file.mode & 0o004) !== 0
  const where = `${file.path} is mode ${octal(file.mode)} (want ${octal(want)})`
  if (groupWritable || worldWritable) {
    // Whoever can write the config or the state can change who may connect.
    const critical = file.kind === "config" || file.kind === "stateDir" || worldWritable
    return [
      {
        id: `${id}.perms_writable`,
        severity: critical ? "critical" : "warn",
        title: `The ${label} is writable by ${worldWritable ? "every user" : "its group"}`,
        detail: `${where}: another user could ${file.kind === "config" || file.kind === "stateDir" ? "change the Gateway's credentials and bind, or plant their own device" : `replace the ${label}`}.`,
        fix
      }
    ]
  }
  if (!groupReadable && !worldReadable) return []
  const secret =
    file.kind === "deviceKey" || file.kind === "deviceTokens" || file.kind === "tlsKey" || (file.kind === "config" && configHasSecret)
  const what: Record<FileKind, string> = {
    config: configHasSecret ? "it holds the Gateway's credentials" : "it holds no credential now, but one saved later would be exposed",
    stateDir: "its contents can be listed and, where their own modes allow, read",
    deviceKey: "whoever reads it can sign in as this device and get its pairing's scopes",
    deviceTokens: "it holds the device tokens Gateways issued to this machine",
    tlsKey: "whoever reads it can impersonate the Gateway to clients that pin its certificate",
    database: "it holds pairings and hashed device tokens",
    log: "it records who connected from where",
    logs: "the Gateway's logs record who connected from where",
    lockOwner: "it names the running Gateway's pid and URL"
  }
  return [
    {
      id: `${id}.perms_${worldReadable ? "world" : "group"}_readable`,
      severity: secret ? "critical" : "warn",
      title: `The ${label} is readable by ${worldReadable ? "every user" : "its group"}`,
      detail: `${where}: ${what[file.kind]}.`,
      fix
    }
  ]
}

/** Every file's findings in the order gathered, or one note that the checks were skipped on Windows. */
export const filesFindings = (facts: AuditFacts, configHasSecret: boolean): Array<Finding> => {
  if (facts.platform === "win32") {
    return [
      {
        id: "fs.perms_skipped",
        severity: "info",
        title: "File permission checks were skipped",
        detail: "On Windows, access is governed by ACLs, which this audit does not read.",
        fix: "Make sure only your account can read the state directory (icacls)."
      }
    ]
  }
  return facts.files.flatMap((file) => fileFindings(file, configHasSecret))
}

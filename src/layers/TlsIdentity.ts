/**
 * The Gateway's TLS certificate: the files named by `gateway.tls.certPath` /
 * `keyPath`, or a self-signed ECDSA P-256 certificate generated on first use
 * in `<stateDir>/tls/` (0600), with a library rather than by shelling out.
 * Its SHA-256 fingerprint is what clients pin.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { randomBytes, webcrypto, X509Certificate } from "node:crypto"
import type { ClawgateConfig } from "../config/schema.js"
import { atomicWriteFile } from "../util/atomicWrite.js"

export interface TlsMaterial {
  readonly cert: string
  readonly key: string
  readonly certPath: string
  readonly keyPath: string
  /** SHA-256 of the certificate's DER, lower-case hex. */
  readonly fingerprint: string
  readonly generated: boolean
}

export class TlsError extends Error {
  override readonly name = "TlsError"
}

export const fingerprintOf = (certPem: string): string => new X509Certificate(certPem).fingerprint256.replace(/:/g, "").toLowerCase()

/** `ab12…` as `AB:12:…`, the way browsers and openssl show it. */
export const colonHex = (hex: string): string => (hex.toUpperCase().match(/.{2}/g) ?? []).join(":")

const generate = async (): Promise<{ cert: string; key: string }> => {
  await import("reflect-metadata")
  // A CommonJS package: in the bundle its exports may sit on `default`.
  const loaded = (await import("@peculiar/x509")) as typeof import("@peculiar/x509") & { default?: typeof import("@peculiar/x509") }
  const x509 = loaded.cryptoProvider ? loaded : loaded.default
  if (x509 === undefined) throw new TlsError("@peculiar/x509 loaded without its exports: cannot generate a certificate")
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair
  const host = os.hostname()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString("hex"),
    name: `CN=clawgate gateway ${host}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 10 * 365 * 86_400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "dns", value: host },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" }
      ]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)
    ]
  })
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64")
  const key = `-----BEGIN PRIVATE KEY-----\n${(pkcs8.match(/.{1,64}/g) ?? []).join("\n")}\n-----END PRIVATE KEY-----\n`
  return { cert: cert.toString("pem") + "\n", key }
}

const readPair = async (certPath: string, keyPath: string) => {
  const read = (file: string, what: string) =>
    fs.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
      throw new TlsError(`cannot read the TLS ${what} ${file}: ${e.code ?? e.message}`)
    })
  return { cert: await read(certPath, "certificate"), key: await read(keyPath, "key") }
}

/** Where the certificate and key are (the configured pair, or the generated one in `<stateDir>/tls/`). */
export const tlsPaths = (config: ClawgateConfig, stateDir: string) => {
  const tls = config.gateway?.tls ?? {}
  if (tls.certPath || tls.keyPath) return { certPath: tls.certPath ?? "", keyPath: tls.keyPath ?? "", generated: false }
  const dir = path.join(stateDir, "tls")
  return { certPath: path.join(dir, "gateway-cert.pem"), keyPath: path.join(dir, "gateway-key.pem"), generated: true }
}

/**
 * Loads (or, with autoGenerate, creates) the certificate and key. `create:
 * false` only reads: for `gateway tls fingerprint` on a host without one yet,
 * it still generates, so the pin can be taken before the first start.
 */
export const loadTls = async (config: ClawgateConfig, stateDir: string): Promise<TlsMaterial> => {
  const tls = config.gateway?.tls ?? {}
  if (tls.certPath || tls.keyPath) {
    if (!tls.certPath || !tls.keyPath) {
      throw new TlsError("gateway.tls.certPath and gateway.tls.keyPath go together: set both, or neither to use a generated certificate")
    }
    const { cert, key } = await readPair(tls.certPath, tls.keyPath)
    let fingerprint: string
    try {
      fingerprint = fingerprintOf(cert)
    } catch (e) {
      throw new TlsError(`${tls.certPath} is not a PEM certificate: ${(e as Error).message}`)
    }
    return { cert, key, certPath: tls.certPath, keyPath: tls.keyPath, fingerprint, generated: false }
  }
  const { certPath, keyPath } = tlsPaths(config, stateDir)
  const exists = await fs.access(certPath).then(
    () => true,
    () => false
  )
  if (exists) {
    const { cert, key } = await readPair(certPath, keyPath)
    return { cert, key, certPath, keyPath, fingerprint: fingerprintOf(cert), generated: false }
  }
  if (tls.autoGenerate === false) {
    throw new TlsError(
      `gateway.tls.enabled is true but there is no certificate: set gateway.tls.certPath and gateway.tls.keyPath, or allow gateway.tls.autoGenerate`
    )
  }
  const { cert, key } = await generate()
  await atomicWriteFile(keyPath, key)
  await atomicWriteFile(certPath, cert)
  return { cert, key, certPath, keyPath, fingerprint: fingerprintOf(cert), generated: true }
}

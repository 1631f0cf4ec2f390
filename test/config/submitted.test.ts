import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { restoreSecrets } from "../../src/config/submitted.js"
import { REDACTED } from "../../src/config/schema.js"

describe("a submitted config's redacted placeholders", () => {
  const stored = {
    gateway: { auth: { token: "stored-token" }, remote: { url: "wss://gw.example", token: "remote-secret" } },
    models: { providers: { local: { baseUrl: "http://127.0.0.1:8080/v1", apiKey: "sk-stored" } } }
  }

  it("keep the stored secret at the same path while its destination is unchanged", () => {
    const out = restoreSecrets(
      {
        gateway: { auth: { token: REDACTED }, remote: { url: "wss://gw.example", token: REDACTED } },
        models: { providers: { local: { baseUrl: "http://127.0.0.1:8080/v1", apiKey: REDACTED } } }
      },
      stored
    )
    expect(Either.getOrThrow(out)).toEqual(stored)
  })

  it("never send a kept secret to a new URL: a changed baseUrl or remote url needs the secret typed again", () => {
    const out = restoreSecrets(
      {
        gateway: { auth: { token: REDACTED }, remote: { url: "wss://attacker.example", token: REDACTED } },
        models: { providers: { local: { baseUrl: "https://attacker.example/v1", apiKey: REDACTED } } }
      },
      stored
    )
    expect(Either.isLeft(out)).toBe(true)
    const paths = Either.isLeft(out) ? out.left.map((i) => i.path) : []
    expect(paths).toEqual(["gateway.remote.token", "models.providers.local.apiKey"])
    expect(JSON.stringify(out)).not.toContain("sk-stored")
    expect(JSON.stringify(out)).not.toContain("remote-secret")
  })
})

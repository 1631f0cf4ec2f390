/** The Devices page's node command requests, read from `node.pair.list` (OpenClaw's shape), bounded. */
import { describe, expect, it } from "@effect/vitest"
import { readNodeRequests } from "../../src/ui/pages/lib/devices.js"

describe("node command requests", () => {
  it("reads requests, drops malformed ones and the device-pairing requests the page already shows", () => {
    const list = {
      pending: [
        {
          requestId: "r1",
          nodeId: "n".repeat(64),
          displayName: "lap",
          commands: ["system.run", "system.notify"],
          requiredApproveScopes: ["operator.pairing", "operator.admin"],
          ts: 5
        },
        { requestId: "r2", nodeId: "m".repeat(64), commands: ["system.notify"] },
        { nodeId: "no-request-id" },
        "junk"
      ]
    }
    const devicePending = [{ requestId: "r2", deviceId: "m".repeat(64), roles: ["node"], scopes: [], isRepair: false, commands: [] }]
    const read = readNodeRequests(list, devicePending)
    expect(read).toEqual([
      {
        requestId: "r1",
        nodeId: "n".repeat(64),
        displayName: "lap",
        platform: undefined,
        remoteIp: undefined,
        commands: ["system.run", "system.notify"],
        requiredApproveScopes: ["operator.pairing", "operator.admin"],
        ts: 5
      }
    ])
    expect(readNodeRequests({ pending: [{ requestId: "r", nodeId: "n", commands: Array(1000).fill("c") }] }, [])[0]!.commands).toHaveLength(
      256
    )
    expect(readNodeRequests(undefined, [])).toEqual([])
  })
})

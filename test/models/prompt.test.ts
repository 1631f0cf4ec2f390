/** A transcript as the next run's prompt. */
import { describe, expect, it } from "@effect/vitest"
import { NO_RESULT, promptFromTranscript } from "../../src/layers/ModelPrompt.js"
import { toChatMessages } from "../../src/layers/ModelOpenAiCompat.js"

describe("promptFromTranscript", () => {
  it("groups an assistant turn's text and tool calls, then their results; fills in a missing result, drops an orphan one", () => {
    const prompt = promptFromTranscript(
      [
        { role: "user", text: "what OS?" },
        { role: "assistant", text: "Let me check." },
        { role: "tool_call", text: "", toolName: "node_laptop__system_info", toolCallId: "c1", data: { verbose: true } },
        { role: "tool_call", text: "", toolName: "node_laptop__system_run", toolCallId: "c2", data: {} },
        {
          role: "tool_result",
          text: "",
          toolName: "node_laptop__system_info",
          toolCallId: "c1",
          data: { ok: true, payload: { os: "Linux" } }
        },
        { role: "tool_result", text: "", toolName: "x", toolCallId: "zz", data: { ok: true, payload: 1 } },
        { role: "assistant", text: "Linux." },
        { role: "user", text: "thanks" },
        { role: "tool_call", text: "", toolName: "node_laptop__camera_snap", toolCallId: "c3", data: {} },
        {
          role: "tool_result",
          text: "",
          toolName: "node_laptop__camera_snap",
          toolCallId: "c3",
          data: { ok: false, error: { code: "DENIED", message: "no" } }
        }
      ],
      { systemPrompt: "Be brief." }
    )
    expect(toChatMessages(prompt)).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "what OS?" },
      {
        role: "assistant",
        content: "Let me check.",
        tool_calls: [
          { id: "c1", type: "function", function: { name: "node_laptop__system_info", arguments: '{"verbose":true}' } },
          { id: "c2", type: "function", function: { name: "node_laptop__system_run", arguments: "{}" } }
        ]
      },
      { role: "tool", tool_call_id: "c1", content: '{"ok":true,"payload":{"os":"Linux"}}' },
      { role: "tool", tool_call_id: "c2", content: JSON.stringify(NO_RESULT) },
      { role: "assistant", content: "Linux." },
      { role: "user", content: "thanks" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c3", type: "function", function: { name: "node_laptop__camera_snap", arguments: "{}" } }]
      },
      { role: "tool", tool_call_id: "c3", content: '{"ok":false,"error":{"code":"DENIED","message":"no"}}' }
    ])
    const tool = prompt.content.find((m) => m.role === "tool" && m.content.some((p) => p.id === "c3"))
    expect(tool?.role === "tool" && tool.content[0]!.isFailure).toBe(true)
  })
})

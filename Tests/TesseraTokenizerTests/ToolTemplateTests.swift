import Testing
@testable import TesseraTokenizer

/// Chat templates that read `tools`, `tool_calls` and role `tool`: a Hermes-style template (the
/// shape of Qwen2.5's: tools as `tojson` lines in the system turn, calls as `<tool_call>` blocks,
/// consecutive tool results in one user turn) rendered with `applyChatTemplate(messages:tools:)`
/// equals what transformers' jinja2 environment (transformers 5.24, jinja2 3.1.6) rendered for
/// the same messages and tools.
@Suite struct ToolTemplateTests {
    static let hermes = #"""
{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nCall functions inside <tool_call></tool_call> tags.<|im_end|>\n" }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>assistant' }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != "tool" %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != "tool" %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""#

    static let expected = #"""
<|im_start|>system
Be brief.

# Tools

<tools>
{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}
</tools>

Call functions inside <tool_call></tool_call> tags.<|im_end|>
<|im_start|>user
Weather in Paris and Oslo?<|im_end|>
<|im_start|>assistant
<tool_call>
{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}
</tool_call>
<tool_call>
{"name": "get_weather", "arguments": {"city": "Oslo"}}
</tool_call><|im_end|>
<|im_start|>user
<tool_response>
sunny
</tool_response>
<tool_response>
rain
</tool_response><|im_end|>
<|im_start|>assistant

"""#

    static func tokenizer(template: String) throws -> Tokenizer {
        var spec = try TinyQwen.get().spec
        spec.chatTemplate = template
        return try Tokenizer(spec: spec)
    }

    static let tools: [TemplateInput] = [.object([
        TemplateMember("type", .string("function")),
        TemplateMember("function", .object([
            TemplateMember("name", .string("get_weather")),
            TemplateMember("description", .string("Weather of a city")),
            TemplateMember("parameters", .object([
                TemplateMember("type", .string("object")),
                TemplateMember("properties", .object([
                    TemplateMember("city", .object([TemplateMember("type", .string("string"))])),
                    TemplateMember("days", .object([TemplateMember("type", .string("integer"))])),
                ])),
                TemplateMember("required", .list([.string("city")])),
            ])),
        ])),
    ])]

    static func call(_ id: String, _ arguments: [TemplateMember]) -> TemplateInput {
        .object([
            TemplateMember("id", .string(id)), TemplateMember("type", .string("function")),
            TemplateMember("function", .object([TemplateMember("name", .string("get_weather")), TemplateMember("arguments", .object(arguments))])),
        ])
    }

    static let messages: [TemplateInput] = [
        .object([TemplateMember("role", .string("system")), TemplateMember("content", .string("Be brief."))]),
        .object([TemplateMember("role", .string("user")), TemplateMember("content", .string("Weather in Paris and Oslo?"))]),
        .object([
            TemplateMember("role", .string("assistant")), TemplateMember("content", .null),
            TemplateMember("tool_calls", .list([
                call("call_1", [TemplateMember("city", .string("Paris")), TemplateMember("days", .int(2))]),
                call("call_2", [TemplateMember("city", .string("Oslo"))]),
            ])),
        ]),
        .object([TemplateMember("role", .string("tool")), TemplateMember("tool_call_id", .string("call_1")), TemplateMember("content", .string("sunny"))]),
        .object([TemplateMember("role", .string("tool")), TemplateMember("tool_call_id", .string("call_2")), TemplateMember("content", .string("rain"))]),
    ]

    @Test func hermesTemplateRendersToolsCallsAndResultsAsJinja2Does() throws {
        let tokenizer = try Self.tokenizer(template: Self.hermes)
        let text = try tokenizer.applyChatTemplate(messages: Self.messages, tools: Self.tools, addGenerationPrompt: true)
        #expect(sameBytes(text, Self.expected), "\(text)")
        #expect(tokenizer.chatTemplateSource == Self.hermes)
    }

    @Test func withoutToolsTheTemplateTakesItsOtherBranch() throws {
        let tokenizer = try Self.tokenizer(template: Self.hermes)
        let text = try tokenizer.applyChatTemplate(
            messages: [.object([TemplateMember("role", .string("user")), TemplateMember("content", .string("hi"))])],
            tools: nil, addGenerationPrompt: false)
        #expect(sameBytes(text, "<|im_start|>user\nhi<|im_end|>\n"), "\(text)")
    }
}

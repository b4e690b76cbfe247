import Testing
@testable import TesseraTokenizer

/// Template rendering checked against jinja2 3.1.6 configured as transformers configures it
/// (trim_blocks, lstrip_blocks, loopcontrols, its `tojson` and `raise_exception`): every
/// `expected` string below is what that environment rendered for the same template and variables.
struct RenderCase: Sendable, CustomTestStringConvertible {
    var name: String
    var template: String
    var variables: [String: JinjaValue]
    var expected: String

    init(_ name: String, template: String, variables: [String: JinjaValue], expected: String) {
        self.name = name
        self.template = template
        self.variables = variables
        self.expected = expected
    }

    var testDescription: String { name }
}

/// Test data only: the literals below never hold a namespace or callable.
extension JinjaValue: @unchecked Sendable {}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) {
        var dict = JinjaDict()
        for (key, value) in elements { dict[key] = value }
        self = .dict(dict)
    }
}

@Suite struct JinjaRenderTests {
    static let cases: [RenderCase] = [
        RenderCase(
            "loopVariables",
            template: "{% for m in messages %}{{ loop.index }}/{{ loop.length }}:{{ m.role }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]]],
            expected: "1/4:systemF043;2/4:user132;3/4:assistant221;4/4:userL310;"),
        RenderCase(
            "ifElifElse",
            template: "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x is even and x > 3 %}big-even{% elif x in [2] %}two{% else %}other{% endif %},{% endfor %}",
            variables: [:],
            expected: "one,two,other,big-even,"),
        RenderCase(
            "whitespaceControl",
            template: "a  {%- if true -%}  b  {%- endif -%}  c\n  {{- ' d ' -}}  \n e {{ 'f' }}\n",
            variables: [:],
            expected: "abc d e f"),
        RenderCase(
            "trimAndLstripBlocks",
            template: "<ul>\n  {% for x in items %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n",
            variables: ["items": ["a", "b"]],
            expected: "<ul>\n    <li>a</li>\n    <li>b</li>\n</ul>"),
        RenderCase(
            "plusDisablesTrimming",
            template: "  {%+ if true +%}\nX\n  {% endif %}\n",
            variables: [:],
            expected: "  \nX\n"),
        RenderCase(
            "comments",
            template: "a{# one #}\nb {#- two -#}  c\n  {# three #}\nd",
            variables: [:],
            expected: "abc\nd"),
        RenderCase(
            "setAndScoping",
            template: "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}[{{ x }}]{% endfor %}{{ x }}{% if true %}{% set x = 5 %}{% endif %}{{ x }}",
            variables: [:],
            expected: "[2][3]15"),
        RenderCase(
            "namespace",
            template: "{% set ns = namespace(last=none, n=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}{{ ns.last }} {{ ns.n }}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]]],
            expected: "3 2"),
        RenderCase(
            "stringsAndEscapes",
            template: "{{ 'a\\nb\\t\\'q\\' \\\\ \\x41\\u00e9' }}|{{ \"dq 'x'\" }}|{{ 'ab' 'cd' }}|{{ 'x' ~ 1 ~ none ~ true }}",
            variables: [:],
            expected: "a\nb\t'q' \\ Aé|dq 'x'|abcd|x1NoneTrue"),
        RenderCase(
            "arithmetic",
            template: "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 1 / 4 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ -(3) }} {{ 1.5 + 1 }} {{ 10 / 5 }}",
            variables: [:],
            expected: "7 9 3 -4 1 2 0.25 1024 ababab -3 2.5 2.0"),
        RenderCase(
            "comparisonsAndLogic",
            template: "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ not 1 == 2 }} {{ 'b' in 'abc' }} {{ 'z' not in 'abc' }} {{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ 1 == 1.0 }} {{ 'a' != 'b' }}",
            variables: [:],
            expected: "True False True True True x y [] True True"),
        RenderCase(
            "testsAndDefined",
            template: "{{ u is defined }} {{ u is undefined }} {{ messages is defined }} {{ none is none }} {{ 1 is not none }} {{ 'a' is string }} {{ 1 is number }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is odd }} {{ 6 is divisibleby 3 }} {{ true is boolean }} {{ x.missing is defined }}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]], "x": ["a": 1]],
            expected: "False True True True True True True True True True True True False"),
        RenderCase(
            "subscriptsAndSlices",
            template: "{{ messages[0]['role'] }} {{ messages[-1].content }} {{ messages|length }} {% for m in messages[1:3] %}{{ m.role }},{% endfor %} {% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %} {{ 'hello'[1:-1] }} {{ [1,2,3,4,5][::2] }}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]]],
            expected: "system Bye 4 user,assistant, uaus ell [1, 3, 5]"),
        RenderCase(
            "filters",
            template: "{{ '  pad  '|trim }}|{{ 'Hi'|upper }}{{ 'Hi'|lower }}|{{ u|default('dflt') }}|{{ ''|default('e', true) }}|{{ [3,1,2]|sort|join('-') }}|{{ [1,2]|first }}{{ [1,2]|last }}|{{ 'abc'|length }}|{{ messages|map(attribute='role')|join(',') }}|{{ messages|selectattr('role', 'equalto', 'user')|list|length }}|{{ 42|string ~ '!' }}|{{ '7'|int + 1 }}|{{ 'hello world'|title }}|{{ 'a-b'|replace('-', '+') }}|{{ [1,2,2,3]|unique|list }}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]]],
            expected: "pad|HIhi|dflt|e|1-2-3|12|3|system,user,assistant,user|2|42!|8|Hello World|a+b|[1, 2, 3]"),
        RenderCase(
            "tojson",
            template: "{{ x|tojson }}|{{ x|tojson(indent=2) }}|{{ 'caf\\u00e9 \"q\" \\n'|tojson }}|{{ [1, 2.5, none, true]|tojson }}",
            variables: ["x": ["name": "f", "args": ["a": [1, "two"], "b": .none], "empty": [:], "list": []]],
            expected: "{\"name\": \"f\", \"args\": {\"a\": [1, \"two\"], \"b\": null}, \"empty\": {}, \"list\": []}|{\n  \"name\": \"f\",\n  \"args\": {\n    \"a\": [\n      1,\n      \"two\"\n    ],\n    \"b\": null\n  },\n  \"empty\": {},\n  \"list\": []\n}|\"café \\\"q\\\" \\n\"|[1, 2.5, null, true]"),
        RenderCase(
            "methods",
            template: "{{ '  x y  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a\\n\\n'.rstrip('\\n') }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'bc')) }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ x.get('a') }}{{ x.get('zz', 'd') }}|{% for k, v in x.items() %}{{ k }}={{ v }};{% endfor %}|{{ x.keys()|list }}|{{ 'Hello'.upper() }}|{{ '-'.join(['a', 'b']) }}|{{ 'hello'.replace('l', 'L') }}",
            variables: ["x": ["a": 1, "b": 2]],
            expected: "x y|hi|a|a|TrueTrue|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|1d|a=1;b=2;|['a', 'b']|HELLO|a-b|heLLo"),
        RenderCase(
            "thinkStripping",
            template: "{% for m in messages %}{% set content = m.content %}{% if m.role == 'assistant' and '</think>' in content %}{% set content = content.split('</think>')[-1].lstrip('\\n') %}{% endif %}<{{ m.role }}>{{ content }}</{{ m.role }}>\n{% endfor %}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]]],
            expected: "<system>Be brief.</system>\n<user>Hi <b>there</b>\n</user>\n<assistant>Hello!</assistant>\n<user>Bye</user>\n"),
        RenderCase(
            "loopControls",
            template: "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}|{% for i in [] %}x{% else %}empty{% endfor %}|{% for i in range(6) if i is odd %}{{ i }}{{ loop.length }}{% endfor %}",
            variables: [:],
            expected: "0134|empty|133353"),
        RenderCase(
            "conditionalExpression",
            template: "{{ 'yes' if messages else 'no' }}|{{ 'a' if false }}|{{ 1 if false else 2 if true else 3 }}",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]]],
            expected: "yes||2"),
        RenderCase(
            "setBlock",
            template: "{% set greeting %}Hello {{ name }}!{% endset %}[{{ greeting }}]",
            variables: ["name": "Ann"],
            expected: "[Hello Ann!]"),
        RenderCase(
            "tupleUnpacking",
            template: "{% for a, b in [[1, 'x'], [2, 'y']] %}{{ a }}{{ b }}{% endfor %}{% set p, q = [3, 4] %}{{ p + q }}",
            variables: [:],
            expected: "1x2y7"),
        RenderCase(
            "printing",
            template: "{{ none }}|{{ true }}|{{ [1, 'a', none, 1.0] }}|{{ {'k': 'v'} }}|{{ u }}|{{ 1e3 }}|{{ 0.1 + 0.2 }}",
            variables: [:],
            expected: "None|True|[1, 'a', None, 1.0]|{'k': 'v'}||1000.0|0.30000000000000004"),
        RenderCase(
            "rawBlock",
            template: "{% raw %}{{ not evaluated }}{% endraw %}",
            variables: [:],
            expected: "{{ not evaluated }}"),
        RenderCase(
            "chatml",
            template: "{%- for message in messages %}\n    {%- if loop.first and message['role'] != 'system' %}\n        {{- '<|im_start|>system\\nYou are helpful.<|im_end|>\\n' }}\n    {%- endif %}\n    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]], "add_generation_prompt": true],
            expected: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <b>there</b><|im_end|>\n<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"),
        RenderCase(
            "llamaStyle",
            template: "{{- bos_token }}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n",
            variables: ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi <b>there</b>\n"], ["role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!"], ["role": "user", "content": "Bye"]], "add_generation_prompt": true, "bos_token": "<|begin_of_text|>"],
            expected: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi <b>there</b><|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nhmm\n</think>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    ]

    @Test(arguments: cases)
    func rendersLikeJinja2(_ c: RenderCase) throws {
        let output = try JinjaTemplate(c.template).render(c.variables)
        #expect(output.unicodeScalars.elementsEqual(c.expected.unicodeScalars), "\(String(reflecting: output))")
    }
}

import Foundation
import Testing
@testable import TesseraTokenizer

@Suite struct JinjaErrorTests {
    static func syntaxError(_ template: String) -> (line: Int, column: Int, message: String)? {
        do {
            _ = try JinjaTemplate(template)
        } catch TokenizerError.templateSyntax(let line, let column, let message) {
            return (line, column, message)
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    static func runtimeError(_ template: String, _ variables: [String: JinjaValue] = [:]) -> TokenizerError? {
        do {
            _ = try JinjaTemplate(template).render(variables)
        } catch let error as TokenizerError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    @Test func unsupportedTagNamesTagAndPosition() throws {
        let error = try #require(Self.syntaxError("ok\n  {% macro greet(name) %}hi{% endmacro %}"))
        #expect(error.line == 2)
        #expect(error.column == 6)
        #expect(error.message == "unsupported tag 'macro'")
    }

    @Test func unclosedBlock() throws {
        let error = try #require(Self.syntaxError("{% if x %}never closed"))
        #expect(error.message.contains("unexpected end of template"))
        #expect(error.message.contains("'endif'"))
    }

    @Test func strayEndTag() throws {
        let error = try #require(Self.syntaxError("a{% endfor %}"))
        #expect(error.message == "unexpected 'endfor'")
    }

    @Test func unterminatedTagsAndStrings() throws {
        #expect(Self.syntaxError("{{ x ")?.message.contains("expected '}}'") == true)
        #expect(Self.syntaxError("{{ 'abc }}")?.message == "unterminated string")
        #expect(Self.syntaxError("{# comment")?.message == "missing end of comment tag")
        #expect(Self.syntaxError("{{ (1 }}")?.message.contains("unexpected '}'") == true)
        #expect(Self.syntaxError("{{ 1 + }}")?.message.contains("unexpected '}}'") == true)
    }

    @Test func unknownFilterIsARuntimeErrorWithPosition() throws {
        let error = Self.runtimeError("line one\n{{ 'x' | frobnicate }}")
        #expect(error == .templateRuntime(line: 2, column: 8, message: "no filter named 'frobnicate'"))
    }

    @Test func attributeOfUndefined() throws {
        let error = Self.runtimeError("{{ missing.attr }}")
        #expect(error == .templateRuntime(line: 1, column: 11, message: "'missing' is undefined"))
        // An undefined attribute of a defined object prints as nothing, as in jinja2.
        #expect(try JinjaTemplate("[{{ m.nothing }}]").render(["m": .dict(JinjaDict())]) == "[]")
    }

    @Test func typeErrors() throws {
        guard case .templateRuntime(_, _, let message)? = Self.runtimeError("{{ 'x' + 1 }}") else {
            Issue.record("expected a runtime error")
            return
        }
        #expect(message.contains("unsupported operand"))
        guard case .templateRuntime(_, _, let compare)? = Self.runtimeError("{{ 5 > 'a' }}") else {
            Issue.record("expected a runtime error")
            return
        }
        #expect(compare.contains("not supported"))
    }

    @Test func raiseExceptionCarriesTheTemplateMessage() throws {
        let template = "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"
            + "{{ raise_exception('Conversation roles must be user or assistant') }}{% endif %}{% endfor %}"
        var message = JinjaDict()
        message["role"] = .string("tool")
        let error = Self.runtimeError(template, ["messages": .list([.dict(message)])])
        #expect(error == .templateException("Conversation roles must be user or assistant"))
        #expect(error?.description == "chat template raised an exception: Conversation roles must be user or assistant")
    }

    @Test func tokenizerWithoutOrWithBrokenTemplate() throws {
        let tokens = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        let none = try Tokenizer(spec: TokenizerSpec(
            tokens: tokens, merges: [], specialTokenIDs: [], preTokenizer: .gpt2,
            bosTokenID: nil, eosTokenID: nil, addBOS: false, chatTemplate: nil))
        #expect(!none.hasChatTemplate)
        #expect(throws: TokenizerError.missingChatTemplate) { try none.applyChatTemplate([], addGenerationPrompt: true) }
        // A template that does not parse leaves the tokenizer usable; the error comes on use.
        let broken = try Tokenizer(spec: TokenizerSpec(
            tokens: tokens, merges: [], specialTokenIDs: [], preTokenizer: .gpt2,
            bosTokenID: nil, eosTokenID: nil, addBOS: false, chatTemplate: "{% for %}"))
        #expect(broken.encode("ok") == [Int(UInt8(ascii: "o")), Int(UInt8(ascii: "k"))])
        #expect(throws: TokenizerError.self) { try broken.applyChatTemplate([], addGenerationPrompt: true) }
    }

    @Test func extraContextVariables() throws {
        let tokens = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        let tokenizer = try Tokenizer(spec: TokenizerSpec(
            tokens: tokens, merges: [], specialTokenIDs: [], preTokenizer: .gpt2, bosTokenID: nil, eosTokenID: nil,
            addBOS: false,
            chatTemplate: "{{ messages[0].content }}{% if enable_thinking is defined and not enable_thinking %}/no_think{% endif %}{{ tools is none }}"))
        let text = try tokenizer.applyChatTemplate(
            [ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true, context: ["enable_thinking": false])
        #expect(text == "hi/no_thinkTrue")
    }
}

extension JinjaErrorTests {
    /// Context values coming from JSONSerialization (NSNumber) keep their JSON type.
    @Test func contextFromJSONKeepsTypes() throws {
        let tokens = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        let tokenizer = try Tokenizer(spec: TokenizerSpec(
            tokens: tokens, merges: [], specialTokenIDs: [], preTokenizer: .gpt2, bosTokenID: nil, eosTokenID: nil,
            addBOS: false, chatTemplate: "{{ one }} {{ flag }} {{ half }} {{ tool|tojson }} {{ native }}"))
        let json = try JSONSerialization.jsonObject(
            with: Data(#"{"one": 1, "flag": true, "half": 0.5, "tool": {"n": null, "xs": [0, false]}}"#.utf8)) as! [String: Any]
        var context = json
        context["native"] = 7
        let text = try tokenizer.applyChatTemplate([], addGenerationPrompt: false, context: context)
        #expect(text == #"1 True 0.5 {"n": null, "xs": [0, false]} 7"#)
    }
}

import Foundation
import TesseraEngine
import TesseraTokenizer

/// Turns decoded OpenAI requests into `GenerationJob`s, or a 400 naming the field at fault.
struct RequestValidator: Sendable {
    let modelName: String
    let tokenizer: Tokenizer
    /// Longest prompt + output the engine serves.
    let maxSequenceLength: Int
    let vocabularySize: Int

    static let maxChoices = 16
    static let maxStops = 16
    static let maxLogprobs = SamplingParams.maxLogprobs

    func job(_ body: RequestBody<CompletionRequest>, rawBody: Data? = nil) throws(APIError) -> GenerationJob {
        let (request, shared) = (body.own, body.shared)
        let constraint = try constraint(shared.responseFormat, rawBody: rawBody)
        try checkModel(request.model)
        if request.echo == true, request.logprobs != nil {
            throw .invalid("'echo' together with 'logprobs' is not supported (no prompt logprobs).", param: "echo")
        }
        if let suffix = request.suffix, !suffix.isEmpty { throw .invalid("'suffix' is not supported.", param: "suffix") }
        if let bestOf = request.bestOf, bestOf != (shared.n ?? 1) {
            throw .invalid("'best_of' is not supported (it must equal n).", param: "best_of")
        }
        if let logprobs = request.logprobs, !(0...Self.maxLogprobs).contains(logprobs) {
            throw .invalid("'logprobs' must be between 0 and \(Self.maxLogprobs), got \(logprobs).", param: "logprobs")
        }
        let prompts: [[Int]]
        switch request.prompt {
        case .texts(let texts): prompts = texts.map { tokenizer.encode($0) }
        case .tokenLists(let lists): prompts = lists
        }
        guard !prompts.isEmpty else { throw .invalid("'prompt' must not be an empty list.", param: "prompt") }
        try checkPrompts(prompts, field: "prompt")
        var (params, n) = try sampling(
            shared, maxTokens: MaxTokens(value: shared.maxTokens, field: "max_tokens", default: 16), prompts: prompts)
        params.logprobs = request.logprobs
        params.constraint = constraint
        var job = GenerationJob(
            kind: .completion, model: modelName, prompts: prompts, n: n, params: params,
            stream: shared.stream ?? false, includeUsage: shared.streamOptions?.includeUsage ?? false,
            logprobs: request.logprobs)
        if request.echo == true {
            switch request.prompt {
            case .texts(let texts): job.echoTexts = texts
            case .tokenLists(let lists): job.echoTexts = lists.map { tokenizer.decode($0) }
            }
        }
        return job
    }

    func job(_ body: RequestBody<ChatCompletionRequest>, rawBody: Data? = nil) throws(APIError) -> GenerationJob {
        let (request, shared) = (body.own, body.shared)
        var constraint = try constraint(shared.responseFormat, rawBody: rawBody)
        try checkModel(request.model)
        guard !request.messages.isEmpty else {
            throw .invalid("'messages' must contain at least one message.", param: "messages")
        }
        let prompt: [Int]
        var toolPlan: ToolPlan?
        if request.involvesTools || request.toolChoice != nil {
            let raw = rawBody.flatMap { try? JSONValue.parse([UInt8]($0)) } ?? .object([])
            toolPlan = try self.toolPlan(request, raw: raw)
            if let plan = toolPlan, let forcing = try toolGrammar(plan) {
                if constraint != nil {
                    throw .invalid("'response_format' cannot be combined with a 'tool_choice' that forces a call.", param: "response_format")
                }
                constraint = forcing
            }
            prompt = tokenizer.encode(try toolChatText(raw, plan: toolPlan, addGenerationPrompt: true), addSpecialTokens: false)
        } else {
            var messages: [ChatMessage] = []
            for (index, message) in request.messages.enumerated() {
                messages.append(try chatMessage(message, index: index))
            }
            guard tokenizer.hasChatTemplate else {
                throw .invalid("The model '\(modelName)' ships no chat template: use /v1/completions.", param: "messages")
            }
            do { prompt = try tokenizer.encodeChat(messages, addGenerationPrompt: true) } catch {
                throw .invalid("The chat template failed on these messages: \(error)", param: "messages")
            }
        }
        try checkPrompts([prompt], field: "messages")
        if shared.maxTokens != nil && request.maxCompletionTokens != nil {
            throw .invalid("Give 'max_completion_tokens' or 'max_tokens', not both.", param: "max_tokens")
        }
        let topLogprobs: Int?
        switch (request.logprobs ?? false, request.topLogprobs) {
        case (false, .some(let top)) where top > 0:
            throw .invalid("'top_logprobs' needs 'logprobs': true.", param: "top_logprobs")
        case (true, let top):
            let top = top ?? 0
            guard (0...Self.maxLogprobs).contains(top) else {
                throw .invalid("'top_logprobs' must be between 0 and \(Self.maxLogprobs), got \(top).", param: "top_logprobs")
            }
            topLogprobs = top
        default:
            topLogprobs = nil
        }
        let maxTokens = request.maxCompletionTokens.map { MaxTokens(value: $0, field: "max_completion_tokens", default: nil) }
            ?? MaxTokens(value: shared.maxTokens, field: "max_tokens", default: nil)
        var (params, n) = try sampling(shared, maxTokens: maxTokens, prompts: [prompt])
        params.logprobs = topLogprobs
        params.constraint = constraint
        var job = GenerationJob(
            kind: .chat, model: modelName, prompts: [prompt], n: n, params: params,
            stream: shared.stream ?? false, includeUsage: shared.streamOptions?.includeUsage ?? false,
            logprobs: topLogprobs)
        job.toolParsing = toolPlan?.parsing
        return job
    }

    // MARK: - response_format

    /// The constraint `response_format` asks for: none for "text", any JSON object for
    /// "json_object", the compiled `json_schema.schema` for "json_schema" (read from the raw body,
    /// which keeps the properties' order); a 400 naming any schema keyword not enforced.
    func constraint(_ format: SharedRequestFields.ResponseFormat?, rawBody: Data?) throws(APIError) -> JSONSchemaGrammar? {
        guard let format else { return nil }
        switch format.type {
        case "text": return nil
        case "json_object": return JSONSchemaGrammar.anyObject()
        case "json_schema":
            let raw = rawBody.flatMap { try? JSONValue.parse([UInt8]($0)) }
            guard let spec = raw?["response_format"]?["json_schema"], case .object = spec else {
                throw .invalid("'response_format.json_schema' is required with type 'json_schema' (an object with 'name' and 'schema').",
                               param: "response_format.json_schema")
            }
            guard let schema = spec["schema"] else {
                throw .invalid("'response_format.json_schema.schema' is required.", param: "response_format.json_schema.schema")
            }
            do { return try JSONSchemaGrammar(schema: schema) } catch {
                if let keyword = error.keyword {
                    throw .invalid("'response_format.json_schema.schema' uses the keyword '\(keyword)', which is not supported: \(error)",
                                   param: "response_format.json_schema.schema")
                }
                throw .invalid("'response_format.json_schema.schema' cannot be used: \(error)", param: "response_format.json_schema.schema")
            }
        default:
            throw .invalid("'response_format.type' must be 'text', 'json_object' or 'json_schema', got '\(format.type)'.",
                           param: "response_format.type")
        }
    }

    // MARK: - /tokenize and /detokenize

    func tokens(_ request: TokenizeRequest, rawBody: Data? = nil) throws(APIError) -> [Int] {
        if let model = request.model { try checkModel(model) }
        if request.prompt == nil, let messages = request.messages, !messages.isEmpty, request.involvesTools {
            // Tools and tool turns render as in a chat request (what the model is shown).
            let raw = rawBody.flatMap { try? JSONValue.parse([UInt8]($0)) } ?? .object([])
            let chat = ChatCompletionRequest(model: modelName, messages: messages, tools: request.tools)
            let plan = try toolPlan(chat, raw: raw)
            let text = try toolChatText(raw, plan: plan, addGenerationPrompt: request.addGenerationPrompt ?? true)
            return tokenizer.encode(text, addSpecialTokens: request.addSpecialTokens ?? false)
        }
        switch (request.prompt, request.messages) {
        case (let prompt?, nil):
            if request.addGenerationPrompt != nil {
                throw .invalid("'add_generation_prompt' goes with 'messages', not 'prompt'.", param: "add_generation_prompt")
            }
            return tokenizer.encode(prompt, addSpecialTokens: request.addSpecialTokens ?? true)
        case (nil, let given?):
            guard !given.isEmpty else { throw .invalid("'messages' must contain at least one message.", param: "messages") }
            var messages: [ChatMessage] = []
            for (index, message) in given.enumerated() { messages.append(try chatMessage(message, index: index)) }
            guard tokenizer.hasChatTemplate else {
                throw .invalid("The model '\(modelName)' ships no chat template: send a 'prompt'.", param: "messages")
            }
            do {
                let text = try tokenizer.applyChatTemplate(messages, addGenerationPrompt: request.addGenerationPrompt ?? true)
                return tokenizer.encode(text, addSpecialTokens: request.addSpecialTokens ?? false)
            } catch {
                throw .invalid("The chat template failed on these messages: \(error)", param: "messages")
            }
        case (nil, nil):
            throw .invalid("Give 'prompt' or 'messages'.", param: "prompt")
        case (_?, _?):
            throw .invalid("Give 'prompt' or 'messages', not both.", param: "messages")
        }
    }

    func text(_ request: DetokenizeRequest) throws(APIError) -> String {
        if let model = request.model { try checkModel(model) }
        if let bad = request.tokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw .invalid("'tokens' holds token id \(bad), outside the vocabulary of \(vocabularySize).", param: "tokens")
        }
        return tokenizer.decode(request.tokens)
    }

    // MARK: - Shared checks

    private func checkModel(_ name: String) throws(APIError) {
        guard name == modelName else { throw .unknownModel(name, served: modelName) }
    }

    private func chatMessage(_ message: ChatCompletionRequest.Message, index: Int) throws(APIError) -> ChatMessage {
        let field = "messages[\(index)]"
        let role: String
        switch message.role {
        case "system", "user", "assistant": role = message.role
        case "developer": role = "system"
        default:
            throw .invalid("'\(field).role' must be one of system, developer, user, assistant; got '\(message.role)'.",
                           param: "\(field).role")
        }
        guard let content = message.content else {
            throw .invalid("'\(field).content' is required.", param: "\(field).content")
        }
        return ChatMessage(role: role, content: content.text)
    }

    private func checkPrompts(_ prompts: [[Int]], field: String) throws(APIError) {
        for (index, prompt) in prompts.enumerated() {
            let name = prompts.count > 1 ? "\(field)[\(index)]" : field
            guard !prompt.isEmpty else { throw .invalid("'\(name)' must not be empty.", param: name) }
            guard prompt.count < maxSequenceLength else {
                throw .invalid(
                    "This model's maximum context length is \(maxSequenceLength) tokens, but '\(name)' has \(prompt.count) tokens.",
                    param: name, code: "context_length_exceeded")
            }
            if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw .invalid("'\(name)' holds token id \(bad), outside the vocabulary of \(vocabularySize).", param: name)
            }
        }
    }

    private func sampling(
        _ fields: SharedRequestFields, maxTokens requested: MaxTokens, prompts: [[Int]]
    ) throws(APIError) -> (SamplingParams, n: Int) {
        let n = fields.n ?? 1
        guard (1...Self.maxChoices).contains(n) else {
            throw .invalid("'n' must be between 1 and \(Self.maxChoices), got \(n).", param: "n")
        }
        let temperature = fields.temperature ?? 1
        guard temperature.isFinite, (0...2).contains(temperature) else {
            throw .invalid("'temperature' must be between 0 and 2, got \(temperature).", param: "temperature")
        }
        let topP = fields.topP ?? 1
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw .invalid("'top_p' must be in (0, 1], got \(topP).", param: "top_p")
        }
        let topK = fields.topK ?? 0
        guard topK >= -1 else { throw .invalid("'top_k' must be -1, 0 (no limit) or positive, got \(topK).", param: "top_k") }
        for (value, name) in [(fields.presencePenalty, "presence_penalty"), (fields.frequencyPenalty, "frequency_penalty")] {
            if let value, !(value.isFinite && (-2...2).contains(value)) {
                throw .invalid("'\(name)' must be between -2 and 2, got \(value).", param: name)
            }
        }
        let repetitionPenalty = fields.repetitionPenalty ?? 1
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw .invalid("'repetition_penalty' must be > 0, got \(repetitionPenalty).", param: "repetition_penalty")
        }
        let minP = fields.minP ?? 0
        guard minP.isFinite, (0...1).contains(minP) else {
            throw .invalid("'min_p' must be between 0 and 1, got \(minP).", param: "min_p")
        }
        let logitBias = try logitBias(fields.logitBias ?? [:])
        let stopTokenIDs = fields.stopTokenIDs ?? []
        if let bad = stopTokenIDs.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw .invalid("'stop_token_ids' holds token id \(bad), outside the vocabulary of \(vocabularySize).",
                           param: "stop_token_ids")
        }
        let stops = fields.stop?.strings ?? []
        guard stops.count <= Self.maxStops else {
            throw .invalid("'stop' may hold at most \(Self.maxStops) strings, got \(stops.count).", param: "stop")
        }
        guard !stops.contains("") else { throw .invalid("'stop' strings must not be empty.", param: "stop") }

        let longest = prompts.map(\.count).max() ?? 0
        let room = maxSequenceLength - longest
        let maxTokens = requested.value ?? requested.default.map { min($0, room) } ?? room
        guard maxTokens >= 1 else {
            throw .invalid("'\(requested.field)' must be at least 1, got \(maxTokens).", param: requested.field)
        }
        guard maxTokens <= room else {
            throw .invalid(
                "This model's maximum context length is \(maxSequenceLength) tokens: the prompt has \(longest), "
                    + "so '\(requested.field)' can be at most \(room), got \(maxTokens).",
                param: requested.field, code: "context_length_exceeded")
        }
        let seed = fields.seed.map { UInt64(bitPattern: Int64($0)) } ?? UInt64.random(in: .min ... .max)
        let params = SamplingParams(
            temperature: Float(temperature), topK: max(topK, 0), topP: Float(topP), seed: seed,
            maxTokens: maxTokens, stop: stops, ignoreEOS: fields.ignoreEOS ?? false,
            presencePenalty: Float(fields.presencePenalty ?? 0), frequencyPenalty: Float(fields.frequencyPenalty ?? 0),
            repetitionPenalty: Float(repetitionPenalty), logitBias: logitBias, minP: Float(minP),
            stopTokenIDs: Set(stopTokenIDs))
        return (params, n)
    }

    /// `logit_bias`: token ids (as JSON object keys) of this vocabulary to biases in -100...100.
    private func logitBias(_ given: [String: Double]) throws(APIError) -> [Int: Float] {
        var bias: [Int: Float] = [:]
        for (key, value) in given.sorted(by: { $0.key < $1.key }) {
            guard let token = Int(key) else {
                throw .invalid("'logit_bias' keys must be token ids, got '\(key)'.", param: "logit_bias")
            }
            guard token >= 0, token < vocabularySize else {
                throw .invalid("'logit_bias' names token id \(token), outside the vocabulary of \(vocabularySize).",
                               param: "logit_bias")
            }
            guard value.isFinite, (-100...100).contains(value) else {
                throw .invalid("'logit_bias' values must be between -100 and 100, got \(value) for token \(token).",
                               param: "logit_bias")
            }
            bias[token] = Float(value)
        }
        return bias
    }
}

/// The output length a request asked for, and under which name.
private struct MaxTokens {
    var value: Int?
    var field: String
    /// Nil: as many as the context leaves.
    var `default`: Int?
}

import Foundation

/// The chat page served at `/`: plain HTML, CSS and JavaScript in one document, no library and
/// no request to anywhere but this server (see `ChatPage`). Kept deliberately small.
///
/// What it does: a conversation whose replies stream token by token from
/// `POST v1/chat/completions` (`stream: true`, read with `fetch` and a `ReadableStream`, the whole
/// history sent each turn); Stop aborts the fetch (the server then aborts the request); a system
/// prompt and temperature / top_p / max_tokens; the model name from `GET v1/models` and the KV
/// cache use from `GET metrics`, refreshed every few seconds; an API key field kept in
/// `localStorage`, sent as `Authorization: Bearer <key>`; server errors shown in the conversation.
/// One column that fits a 375 px wide phone. URLs are relative, so the page also works behind a
/// proxy that mounts the server under a path.
enum ChatPageDocument {
    /// The icon, also answered at `/favicon.ico`; the page links it as a `data:` URI.
    static let iconSVG = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">\
        <rect width="16" height="16" rx="3" fill="#2b5fd9"/>\
        <path d="M3.5 4h9v2h-3.5v6.5h-2V6H3.5z" fill="#fff"/></svg>
        """

    static let iconDataURI = "data:image/svg+xml,"
        + (iconSVG.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tessera chat</title>
        <link rel="icon" type="image/svg+xml" href="\#(iconDataURI)">
        <style>
        :root { color-scheme: light dark; --accent: #2b5fd9; --muted: #7a7f87; --line: #8884; --error: #d33; }
        * { box-sizing: border-box; }
        html, body { margin: 0; height: 100%; }
        body { font: 16px/1.45 system-ui, sans-serif; max-width: 48rem; margin: 0 auto; height: 100vh; height: 100dvh;
          display: flex; flex-direction: column; }
        header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .2rem 1rem; padding: .5rem .75rem;
          border-bottom: 1px solid var(--line); }
        h1 { font-size: 1.1rem; margin: 0; }
        #status { display: flex; flex-wrap: wrap; gap: .1rem 1rem; font-size: .85rem; color: var(--muted); }
        details { padding: .35rem .75rem; border-bottom: 1px solid var(--line); }
        summary { cursor: pointer; font-size: .9rem; color: var(--muted); }
        label { display: flex; flex-direction: column; gap: .15rem; margin-top: .4rem; font-size: .8rem; color: var(--muted); }
        .row { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .5rem; }
        input, textarea, button { font: inherit; }
        input, textarea { width: 100%; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: .4rem;
          background: transparent; color: CanvasText; }
        button { padding: .4rem .9rem; border: 1px solid var(--accent); border-radius: .4rem; background: var(--accent);
          color: #fff; cursor: pointer; }
        button.plain { background: transparent; color: var(--accent); margin: .5rem 0 .2rem; }
        button:disabled { opacity: .45; cursor: default; }
        [hidden] { display: none !important; }
        #log { flex: 1; overflow-y: auto; display: flex; flex-direction: column; gap: .6rem; padding: .75rem; }
        #empty { margin: auto; color: var(--muted); text-align: center; }
        .msg { max-width: 100%; padding: .5rem .75rem; border-radius: .6rem; white-space: pre-wrap; overflow-wrap: anywhere; }
        .user { align-self: flex-end; background: #2b5fd92a; }
        .user.unsent { opacity: .55; }
        .assistant { align-self: flex-start; background: #8881; }
        .assistant[data-state="streaming"] .text::after { content: "\25CD"; color: var(--muted); }
        .note { font-size: .8rem; color: var(--muted); }
        .note:empty { display: none; }
        .error { align-self: stretch; color: var(--error); border: 1px solid var(--error); }
        form { display: flex; gap: .5rem; padding: .5rem .75rem calc(.5rem + env(safe-area-inset-bottom));
          border-top: 1px solid var(--line); }
        #input { flex: 1; min-height: 2.6rem; max-height: 10rem; resize: vertical; }
        </style>
        </head>
        <body>
        <header>
          <h1>Tessera</h1>
          <div id="status"><span id="model">model: …</span><span id="kv">KV cache: …</span></div>
        </header>
        <details id="settings">
          <summary>Settings</summary>
          <label>API key (only if the server has --api-key; kept in this browser)
            <input id="key" type="password" autocomplete="off" spellcheck="false"></label>
          <label>System prompt
            <textarea id="system" rows="2" placeholder="(none)"></textarea></label>
          <div class="row">
            <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
            <label>top_p <input id="top_p" type="number" min="0" max="1" step="0.05" value="0.95"></label>
            <label>max_tokens <input id="max_tokens" type="number" min="1" step="1" value="256"></label>
          </div>
          <button type="button" class="plain" id="clear">New conversation</button>
        </details>
        <main id="log" aria-live="polite"><p id="empty">Send a message to start.</p></main>
        <form id="form">
          <textarea id="input" rows="1" placeholder="Message" title="Enter sends, Shift+Enter starts a new line"></textarea>
          <button id="send" type="submit">Send</button>
          <button id="stop" type="button" class="plain" hidden>Stop</button>
        </form>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        const log = $("log"), input = $("input");
        const conversation = [];  // {role, content} of every turn so far, the system prompt apart
        let epoch = 0;            // "New conversation" counts up: a reply ending later is not kept
        let model = null;         // the served model's id, from v1/models
        let controller = null;    // aborts the reply being streamed
        class ServerError extends Error { }

        // Settings survive a reload; the API key never leaves this browser except to this server.
        for (const id of ["key", "system", "temperature", "top_p", "max_tokens"]) {
          const saved = localStorage.getItem("tessera." + id);
          if (saved !== null) $(id).value = saved;
          $(id).addEventListener("input", () => localStorage.setItem("tessera." + id, $(id).value));
        }
        $("key").addEventListener("change", refresh);

        function headers(json) {
          const result = json ? { "Content-Type": "application/json" } : {};
          const key = $("key").value.trim();
          if (key) result.Authorization = "Bearer " + key;
          return result;
        }

        function keyNeeded() {
          $("settings").open = true;
          $("key").focus();
        }

        function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 60; }

        function add(kind, text) {
          const follow = nearBottom();
          $("empty")?.remove();
          const div = document.createElement("div");
          div.className = "msg " + kind;
          div.textContent = text;
          log.append(div);
          if (follow) log.scrollTop = log.scrollHeight;
          return div;
        }

        function showError(message) {
          add("error", message);
          if (/API key/.test(message)) keyNeeded();
        }

        // The message of a failed response: the server's {"error": {"message": ...}} when there is one.
        async function failure(response) {
          let message = "";
          try { message = (await response.json()).error?.message ?? ""; } catch (_) { }
          if (response.status === 401) {
            return "The server needs an API key (401" + (message ? ": " + message : "") + "). Enter it under Settings and send again.";
          }
          return "Error " + response.status + ": " + (message || response.statusText || "request failed");
        }

        function number(id, parse) {
          const value = parse($(id).value);
          return Number.isFinite(value) ? value : undefined;
        }

        async function send(text) {
          const user = { role: "user", content: text };
          const userDiv = add("user", text);
          const reply = add("assistant", "");
          reply.dataset.state = "streaming";
          const replyText = document.createElement("span"), note = document.createElement("div");
          replyText.className = "text";
          note.className = "note";
          reply.append(replyText, note);

          controller = new AbortController();
          setBusy(true);
          let content = "", finish = null;
          const started = epoch;
          const keep = () => { if (epoch === started) conversation.push(user, { role: "assistant", content }); };
          const finished = (state, message) => {
            reply.dataset.state = state;
            note.textContent = message;
          };
          try {
            const system = $("system").value.trim();
            const body = {
              model: model ?? (await loadModel()) ?? "",
              messages: [...(system ? [{ role: "system", content: system }] : []), ...conversation, user],
              stream: true,
              temperature: number("temperature", parseFloat),
              top_p: number("top_p", parseFloat),
              max_tokens: number("max_tokens", (v) => parseInt(v, 10)),
            };
            const response = await fetch("v1/chat/completions", {
              method: "POST", headers: headers(true), body: JSON.stringify(body), signal: controller.signal,
            });
            if (!response.ok) throw new ServerError(await failure(response));
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            let buffer = "";
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              buffer += value.replace(/\r\n?/g, "\n");
              let end;
              while ((end = buffer.indexOf("\n\n")) >= 0) {
                const event = buffer.slice(0, end);
                buffer = buffer.slice(end + 2);
                for (const line of event.split("\n")) {
                  if (!line.startsWith("data:")) continue;
                  const data = line.slice(5).trim();
                  if (data === "[DONE]") continue;
                  const chunk = JSON.parse(data);
                  if (chunk.error) throw new ServerError("Error: " + (chunk.error.message ?? "the server failed"));
                  const choice = chunk.choices?.[0];
                  if (choice?.delta?.content) {
                    const follow = nearBottom();
                    content += choice.delta.content;
                    replyText.textContent = content;
                    if (follow) log.scrollTop = log.scrollHeight;
                  }
                  if (choice?.finish_reason) finish = choice.finish_reason;
                }
              }
            }
            keep();
            finished("done", finish === "length" ? "(cut at max_tokens)" : content ? "" : "(empty reply)");
          } catch (error) {
            if (error.name === "AbortError") {
              if (content) keep();
              finished("stopped", "Stopped.");
            } else {
              // A turn that got no reply is not part of the conversation: its text goes back to the input.
              if (content) keep();
              else { userDiv.classList.add("unsent"); if (!input.value) input.value = text; }
              if (!content) reply.remove(); else finished("error", "");
              showError(error instanceof ServerError ? error.message : "Could not reach the server: " + error.message);
            }
          } finally {
            controller = null;
            setBusy(false);
            refreshCache();
          }
        }

        function setBusy(busy) {
          $("send").hidden = busy;
          $("stop").hidden = !busy;
        }

        $("form").addEventListener("submit", (event) => {
          event.preventDefault();
          const text = input.value.trim();
          if (!text || controller) return;
          input.value = "";
          send(text);
        });
        input.addEventListener("keydown", (event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            $("form").requestSubmit();
          }
        });
        $("stop").addEventListener("click", () => controller?.abort());
        $("clear").addEventListener("click", () => {
          epoch += 1;
          controller?.abort();
          conversation.length = 0;
          log.replaceChildren();
          const empty = document.createElement("p");
          empty.id = "empty";
          empty.textContent = "Send a message to start.";
          log.append(empty);
        });

        async function loadModel() {
          try {
            const response = await fetch("v1/models", { headers: headers(false) });
            if (response.status === 401) {
              $("model").textContent = "model: API key needed (Settings)";
              return null;
            }
            if (!response.ok) {
              $("model").textContent = "model: " + (await failure(response));
              return null;
            }
            model = (await response.json()).data?.[0]?.id ?? null;
            $("model").textContent = "model: " + (model ?? "none");
          } catch (_) {
            $("model").textContent = "model: server unreachable";
          }
          return model;
        }

        async function refreshCache() {
          try {
            const response = await fetch("metrics");
            if (!response.ok) return;
            const values = {};
            for (const line of (await response.text()).split("\n")) {
              if (!line || line.startsWith("#")) continue;
              const space = line.lastIndexOf(" ");
              values[line.slice(0, space)] = Number(line.slice(space + 1));
            }
            const ratio = values.tessera_kv_cache_usage_ratio;
            const used = values.tessera_kv_cache_blocks_used, total = values.tessera_kv_cache_blocks_total;
            if (ratio === undefined) return;
            $("kv").textContent = "KV cache: " + (100 * ratio).toFixed(1) + "%"
              + (used !== undefined && total !== undefined ? " (" + used + "/" + total + " blocks)" : "");
          } catch (_) {
            $("kv").textContent = "KV cache: server unreachable";
          }
        }

        function refresh() {
          loadModel();
          refreshCache();
        }
        refresh();
        setInterval(() => { if (!document.hidden) refresh(); }, 3000);
        input.focus();
        </script>
        </body>
        </html>

        """#
}

/* Taskra storefront chat. No framework, no third-party requests: it talks only to the app
 * proxy on the shop's own origin. Every text is set with textContent, never parsed as HTML.
 * The session token lives in localStorage (the app proxy forwards no cookies), so the
 * conversation survives page navigation. */
(() => {
  "use strict";
  const root = document.getElementById("taskra-chat");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const d = root.dataset;
  const t = (key) => d["t" + key] || "";
  const base = (d.proxy || "/apps/support").replace(/\/$/, "") + "/chat/";
  const KEY = "taskra-chat:" + (d.shop || location.host);
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(KEY) || "{}") || {};
  } catch (e) {
    saved = {};
  }
  const save = () => {
    try {
      localStorage.setItem(KEY, JSON.stringify(saved));
    } catch (e) {
      /* private mode: the chat still works on this page */
    }
  };

  const make = (tag, attrs, text) => {
    const node = document.createElement(tag);
    for (const name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  };

  const launcher = make("button", {
    type: "button",
    class: "tc-launch",
    "aria-expanded": "false",
    "aria-controls": "tc-panel",
  }, t("Open"));
  const panel = make("section", {
    id: "tc-panel",
    class: "tc-panel",
    role: "dialog",
    "aria-labelledby": "tc-title",
  });
  panel.hidden = true;
  const head = make("header", { class: "tc-head" });
  const close = make("button", { type: "button", class: "tc-close", "aria-label": t("Close") }, "\u00d7");
  head.append(make("h2", { id: "tc-title" }, t("Title")), close);
  const status = make("p", { class: "tc-status", role: "status" });
  const log = make("ol", {
    class: "tc-log",
    role: "log",
    "aria-live": "polite",
    "aria-labelledby": "tc-title",
    tabindex: "0",
  });
  const alert = make("p", { class: "tc-error", role: "alert" });
  const emailForm = make("form", { class: "tc-email" });
  const emailInput = make("input", { id: "tc-email-in", type: "email", autocomplete: "email", required: "" });
  emailForm.append(
    make("label", { for: "tc-email-in" }, t("Email")),
    emailInput,
    make("button", { type: "submit" }, t("Save")),
  );
  emailForm.hidden = true;
  const form = make("form", { class: "tc-form" });
  const input = make("textarea", { id: "tc-in", rows: "2", maxlength: "2000", required: "" });
  const send = make("button", { type: "submit" }, t("Send"));
  form.append(make("label", { for: "tc-in" }, t("Message")), input, send);
  panel.append(head, status, log, alert, emailForm, form);
  root.classList.add(d.position === "left" ? "tc-left" : "tc-right");
  root.append(launcher, panel);

  const shown = new Set();
  let after = 0;
  let known = null;
  let polling = false;
  const who = { visitor: t("You"), ai: t("Ai"), agent: t("Agent") };

  const add = (sender, text, id) => {
    if (id) {
      if (shown.has(id)) return;
      shown.add(id);
      after = Math.max(after, id);
    }
    const item = make("li", { class: "tc-msg tc-" + sender });
    item.append(make("span", { class: "tc-who" }, who[sender] || ""), make("span", {}, text));
    log.append(item);
    log.scrollTop = log.scrollHeight;
    if (panel.hidden && sender !== "visitor") {
      launcher.classList.add("tc-unread");
      launcher.textContent = t("Open") + " \u2022 " + t("Unread");
    }
  };

  const show = (data) => {
    (data.messages || []).forEach((m) => add(m.sender, m.text, m.id));
    if (data.status && data.status !== known) {
      known = data.status;
      status.textContent = t("Status" + known[0].toUpperCase() + known.slice(1));
      root.dataset.status = known;
    }
    emailForm.hidden = !data.ask_email;
    log.scrollTop = log.scrollHeight;
  };

  const call = async (path, body) => {
    const response = await fetch(base + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = {};
    }
    if (!response.ok) {
      const failure = new Error((data.error && data.error.message) || t("Failed"));
      failure.status = response.status;
      throw failure;
    }
    return data;
  };

  const forget = () => {
    delete saved.session;
    save();
  };

  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  const poll = async () => {
    if (polling || !saved.session) return;
    polling = true;
    let failures = 0;
    while (saved.session) {
      try {
        const started = Date.now();
        const data = await call("poll", { session: saved.session, after: after, status: known, wait: true });
        show(data);
        failures = 0;
        // A server that does not hold polls open must not be asked in a tight loop.
        if (!(data.messages || []).length && Date.now() - started < 1000) await sleep(1000);
      } catch (e) {
        if (e.status === 404) {
          forget();
          break;
        }
        failures += 1;
        await sleep(Math.min(30000, 1000 * 2 ** failures));
      }
    }
    polling = false;
  };

  const open = (focus) => {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.classList.remove("tc-unread");
    launcher.textContent = t("Open");
    saved.open = true;
    save();
    if (focus) input.focus();
  };

  const shut = () => {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    saved.open = false;
    save();
    launcher.focus();
  };

  launcher.addEventListener("click", () => (panel.hidden ? open(true) : shut()));
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", (e) => {
    if (e.key === "Escape") shut();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || send.disabled) return;
    send.disabled = true;
    const id = self.crypto && crypto.randomUUID
      ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
    const post = () => call("messages", { session: saved.session, text: text, id: id });
    try {
      let data;
      try {
        data = await post();
      } catch (failure) {
        // A session this store no longer knows (or another shopper's): start a new one.
        if (failure.status !== 404 || !saved.session) throw failure;
        forget();
        data = await post();
      }
      if (data.session) {
        saved.session = data.session;
        save();
      }
      add("visitor", data.message.text, data.message.id);
      input.value = "";
      alert.textContent = "";
      poll();
    } catch (failure) {
      alert.textContent = failure.message;
    } finally {
      send.disabled = false;
      input.focus();
    }
  });

  emailForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      show(await call("email", { session: saved.session, email: emailInput.value.trim() }));
      alert.textContent = "";
    } catch (failure) {
      alert.textContent = failure.message;
    }
  });

  if (d.greeting) add("ai", d.greeting);
  if (saved.open) open(false);
  poll();
})();

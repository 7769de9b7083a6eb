// Taskra's admin pages: actions through the JSON API, live updates, embedded navigation.
//
// The server renders every page (escaped by Jinja); this script never builds HTML from data.
// After an action, or when the live stream says something changed, it asks the server for
// the page's <main> again and swaps it in, keeping whatever the user was typing.
"use strict";

(function () {
  const body = document.body;
  const embedded = body.dataset.mode === "embedded";
  const csrf = body.dataset.csrf || "";

  // --- talking to the server -------------------------------------------------------------

  async function authHeaders() {
    const headers = {};
    if (embedded) {
      // App Bridge adds the session token to fetch() itself; asking for it explicitly keeps
      // the page working with any App Bridge version that does not.
      if (window.shopify && typeof window.shopify.idToken === "function") {
        headers["Authorization"] = "Bearer " + (await window.shopify.idToken());
      }
    } else if (csrf) {
      headers["X-CSRF-Token"] = csrf;
    }
    return headers;
  }

  async function api(method, path, payload) {
    const headers = await authHeaders();
    const init = { method, headers, credentials: "same-origin" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(path, init);
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : "The server answered " + response.status + ".";
      throw new Error(message);
    }
    return data;
  }

  function notify(text, isError) {
    const notice = document.getElementById("notice");
    if (!notice) return;
    notice.textContent = text; // text, never HTML
    notice.hidden = !text;
    notice.classList.toggle("error", Boolean(isError));
    if (window.shopify && window.shopify.toast && text) {
      window.shopify.toast.show(text, { isError: Boolean(isError) });
    }
  }

  function pageUrl() {
    const url = new URL(window.location.href);
    url.searchParams.delete("id_token"); // single use; the fetch carries a fresh token
    return url;
  }

  // Re-render <main> on the server and swap it in. Text the user is still editing survives.
  // One refresh at a time; a request that comes in meanwhile runs once more afterwards,
  // because the one in flight may have read the page before the change it announces.
  let refreshing = null;
  let again = false;
  async function refresh() {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      const main = document.getElementById("main");
      if (!main) return;
      const headers = await authHeaders();
      headers["X-Taskra-Fragment"] = "main";
      const response = await fetch(pageUrl(), { headers, credentials: "same-origin" });
      if (!response.ok) return;
      const kept = {};
      main.querySelectorAll("[data-keep][data-dirty]").forEach((field) => {
        if (field.id || field.name) kept[keyOf(field)] = field.value;
      });
      main.innerHTML = await response.text();
      main.querySelectorAll("[data-keep]").forEach((field) => {
        const key = keyOf(field);
        if (key in kept) {
          field.value = kept[key];
          field.dataset.dirty = "1";
        }
      });
      document.dispatchEvent(new CustomEvent("taskra:refreshed"));
    })().finally(() => {
      refreshing = null;
      if (again) {
        again = false;
        refresh();
      }
    });
    return refreshing;
  }

  function keyOf(field) {
    const form = field.closest("form");
    return (form ? form.dataset.path || "" : "") + "#" + (field.id || field.name);
  }

  // --- forms and buttons ----------------------------------------------------------------

  function formPayload(form) {
    const payload = {};
    let path = form.dataset.path;
    const lists = (form.dataset.list || "").split(",").filter(Boolean);
    for (const field of form.elements) {
      if (!field.name || field.type === "submit" || field.type === "button") continue;
      let value = field.value;
      if ("pathOnly" in field.dataset) {
        path = path.replace("{" + field.name + "}", encodeURIComponent(value.trim()));
        continue;
      }
      if ("number" in field.dataset) value = Number(value);
      else if (lists.includes(field.name)) {
        value = value.split(",").map((item) => item.trim()).filter(Boolean);
      }
      payload[field.name] = value;
    }
    return { path, payload };
  }

  document.addEventListener("input", (event) => {
    if (event.target.matches && event.target.matches("[data-keep]")) {
      event.target.dataset.dirty = "1";
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.matches("[data-nav-form]")) {
      if (!embedded) return; // a plain GET works outside the admin
      event.preventDefault();
      const url = new URL(form.action, window.location.href);
      for (const [name, value] of new FormData(form)) url.searchParams.set(name, value);
      await navigate(url);
      return;
    }
    if (!form.matches("[data-api-form]")) return;
    event.preventDefault();
    const { path, payload } = formPayload(form);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await api(form.dataset.method || "POST", path, payload);
      form.querySelectorAll("[data-dirty]").forEach((f) => delete f.dataset.dirty);
      if ("reset" in form.dataset) form.reset();
      notify("Saved.");
      await refresh();
    } catch (error) {
      notify(error.message, true);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });

  const CLICK_ACTIONS = {
    regenerate: ["POST", "Writing a new draft…"],
    discard: ["POST", "Draft discarded."],
    delete: ["DELETE", "Deleted."],
    post: ["POST", "Done: check your email."],
  };

  document.addEventListener("click", async (event) => {
    const link = event.target.closest && event.target.closest("a[data-nav]");
    if (link && embedded) {
      event.preventDefault();
      await navigate(new URL(link.href, window.location.href));
      return;
    }
    const button = event.target.closest && event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "logout") {
      event.preventDefault();
      await fetch("/logout", { method: "POST", headers: await authHeaders(), credentials: "same-origin" });
      window.location.assign("/login");
      return;
    }
    if (action === "billing") {
      event.preventDefault();
      button.disabled = true;
      try {
        const payload = button.dataset.plan ? { plan: button.dataset.plan } : undefined;
        const data = await api("POST", button.dataset.path, payload);
        if (data && data.url && /^https?:\/\//.test(data.url)) {
          // Shopify's confirmation page and Stripe's pages refuse to load inside the admin's
          // iframe: they open in the top frame, and return to this page afterwards.
          window.open(data.url, "_top");
        } else {
          notify("Plan changed.");
          await refresh();
        }
      } catch (error) {
        notify(error.message, true);
      } finally {
        button.disabled = false;
      }
      return;
    }
    const known = CLICK_ACTIONS[action];
    if (!known) return;
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      await api(known[0], button.dataset.path);
      notify(known[1]);
      await refresh();
    } catch (error) {
      notify(error.message, true);
      button.disabled = false;
    }
  });

  document.addEventListener("change", async (event) => {
    const select = event.target;
    if (!select.matches || !select.matches("select[data-action]")) return;
    const action = select.dataset.action;
    let payload;
    let method = "POST";
    if (action === "status") payload = { status: select.value };
    else if (action === "assign") payload = { account_id: select.value ? Number(select.value) : null };
    else if (action === "autonomy") {
      method = "PUT";
      payload = { mode: select.value, intent: select.dataset.intent || null };
    } else return;
    try {
      await api(method, select.dataset.path, payload);
      notify("Saved.");
      await refresh();
    } catch (error) {
      notify(error.message, true);
    }
  });

  // Inside the admin a page load must carry a fresh session token; without one the server
  // bounces through App Bridge, which works but costs a round trip.
  async function navigate(url) {
    if (window.shopify && typeof window.shopify.idToken === "function") {
      url.searchParams.set("id_token", await window.shopify.idToken());
    }
    window.location.assign(url.toString());
  }

  // --- live updates -------------------------------------------------------------------

  function interested(conversationIds) {
    const main = document.getElementById("main");
    if (!main) return false;
    const page = main.dataset.page;
    if (page === "inbox") return true;
    if (page === "conversation") {
      return conversationIds.includes(Number(main.dataset.conversation));
    }
    return false;
  }

  async function follow() {
    let cursor = null;
    let delay = 1000;
    for (;;) {
      try {
        const url = new URL("/api/v1/events", window.location.href);
        if (cursor) url.searchParams.set("cursor", cursor);
        const response = await fetch(url, { headers: await authHeaders(), credentials: "same-origin" });
        if (!response.ok || !response.body) throw new Error("stream " + response.status);
        delay = 1000;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = parseEvent(block);
            if (event.id) cursor = event.id;
            if (event.type === "change") {
              const ids = JSON.parse(event.data || "{}").conversations || [];
              if (interested(ids)) await refresh();
            }
          }
        }
      } catch (_) {
        delay = Math.min(delay * 2, 30000);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  function parseEvent(block) {
    const event = { id: null, type: "message", data: "" };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") event.id = value;
      else if (field === "event") event.type = value;
      else if (field === "data") event.data += value;
    }
    return event;
  }

  if (document.getElementById("main")) follow();
  body.dataset.ready = "1"; // the controls work from here on (tests wait for it)
})();

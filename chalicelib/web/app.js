/* The gallery's browser UI: plain JavaScript, no build step.
 *
 * Every request uses a URL relative to the page, because deployed the app lives under /api/.
 * The id token lives in memory only; the refresh token (and the username) in localStorage, so a
 * session survives a reload. A 401 refreshes once; if that fails, a sign-in dialog opens over the
 * page and every request that was waiting (uploads, edits) carries on once the person signs in.
 */
"use strict";
// A share link's page (/s/{token}, or /api/s/{token} deployed); app.py gives it <base href="../">.
const SHARE_PATH = /\/s\/([A-Za-z0-9_-]{16,100})$/;
(function () {
  // Opened at the app's root without its trailing slash (/api, deployed): relative URLs need it.
  if (!location.pathname.endsWith("/") && !SHARE_PATH.test(location.pathname)) {
    location.replace(`${location.pathname}/${location.search}${location.hash}`);
    return;
  }
  const $ = (selector, root = document) => root.querySelector(selector);
  const STORE_KEY = "gallery.session";
  const PAGE_SIZE = 48;
  const UPLOAD_CONCURRENCY = 4;
  const ACCEPTED = {
    jpg: "image/jpeg", jpeg: "image/jpeg", jpe: "image/jpeg", png: "image/png", webp: "image/webp",
    gif: "image/gif", heic: "image/heic", heif: "image/heif", avif: "image/avif",
  };
  const ACCEPTED_TYPES = new Set(Object.values(ACCEPTED));

  /** Build an element: h("button", {class: "x", onclick: fn, "aria-label": "y"}, child, "text"). */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function icon(name, extra = "") {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", `icon ${extra}`.trim());
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `#i-${name}`);
    svg.append(use);
    return svg;
  }

  /** A message at the bottom; `action` ({label, run}) adds a button (Undo) and keeps it longer. */
  function toast(message, kind = "info", action = null) {
    const box = $("#toasts");
    // A modal dialog sits in the top layer: show the message inside it, or it would be hidden.
    const open = [...document.querySelectorAll("dialog[open]")].pop();
    const host = open || document.body;
    if (box.parentElement !== host) host.append(box);
    const item = h("div", { class: `toast ${kind}` }, icon(kind === "error" ? "error" : "check"), h("span", { text: message }));
    if (action) {
      item.append(h("button", { type: "button", class: "toast-action", text: action.label,
        onclick: () => { item.remove(); action.run(); } }));
    }
    box.append(item);
    const life = action ? 10000 : 3800;
    setTimeout(() => item.classList.add("leaving"), life);
    setTimeout(() => item.remove(), life + 400);
    return item;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---------------------------------------------------------------------------------------------
  // Session and API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || `request failed (${status})`);
      this.status = status;
      this.code = code;
    }
  }

  const session = {
    username: null,
    refreshToken: null,
    idToken: null,
    load() {
      try {
        const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
        if (saved && saved.username && saved.refresh_token) {
          this.username = saved.username;
          this.refreshToken = saved.refresh_token;
        }
      } catch (_) { /* a corrupt entry is the same as none */ }
    },
    save() {
      localStorage.setItem(STORE_KEY, JSON.stringify({ username: this.username, refresh_token: this.refreshToken }));
    },
    clear() {
      this.username = this.refreshToken = this.idToken = null;
      localStorage.removeItem(STORE_KEY);
    },
    get signedIn() { return Boolean(this.username && this.refreshToken); },
  };

  async function readError(response) {
    let code = "", message = "";
    try {
      const body = await response.json();
      code = body.Code || ""; message = body.Message || body.message || "";
    } catch (_) { /* not JSON */ }
    return new ApiError(response.status, code, message || `${response.status} ${response.statusText}`);
  }

  async function rawJson(path, { method = "GET", body, token, headers: extra } = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" };
    let response;
    // A dropped connection (a phone between networks, a server restarting) is retried a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetch(path, init);
        break;
      } catch (error) {
        if (attempt >= 5) throw new Error("the server could not be reached; check your connection");
        await sleep(300 * 2 ** attempt);
      }
    }
    if (!response.ok) throw await readError(response);
    return response.status === 204 ? null : response.json();
  }

  let refreshing = null;
  /** Exchange the refresh token for a new id token; shared by every request that got a 401. */
  function refreshSession() {
    if (!refreshing) {
      refreshing = (async () => {
        if (!session.refreshToken) return false;
        try {
          const tokens = await rawJson("auth/refresh", { method: "POST", body: { refresh_token: session.refreshToken } });
          session.idToken = tokens.id_token;
          return true;
        } catch (error) {
          if (error instanceof ApiError && error.status < 500) return false;
          throw error;
        }
      })().finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  async function signIn(username, password) {
    const tokens = await rawJson("auth/login", { method: "POST", body: { username, password } });
    session.username = username;
    session.refreshToken = tokens.refresh_token;
    session.idToken = tokens.id_token;
    session.save();
    renderChrome();
  }

  /** An API call; `auth` calls send the id token and survive its expiry (see the file's comment). */
  async function api(path, { method = "GET", body, auth = true } = {}) {
    let refreshed = false;
    for (;;) {
      if (auth && !session.idToken) {
        if (!(session.refreshToken && (await refreshSession()))) await reauthenticate();
      }
      try {
        return await rawJson(path, { method, body, token: auth ? session.idToken : null });
      } catch (error) {
        if (!(auth && error instanceof ApiError && error.status === 401)) throw error;
        session.idToken = null;
        if (!refreshed && (await refreshSession())) { refreshed = true; continue; }
        await reauthenticate();
        refreshed = false;
      }
    }
  }

  let reauthWaiting = null;
  /** Open the sign-in dialog over the page; resolves once signed in (rejects if the person signs out). */
  function reauthenticate() {
    if (reauthWaiting) return reauthWaiting.promise;
    if (!session.username) {
      location.hash = "#/signin";
      return Promise.reject(new ApiError(401, "Unauthorized", "please sign in"));
    }
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    reauthWaiting = { promise, resolve, reject };
    const dialog = $("#reauth");
    const form = $("#reauth-form");
    form.reset();
    form.username.value = session.username;
    $(".form-error", form).textContent = "";
    if (!dialog.open) dialog.showModal();
    form.password.focus();
    return promise;
  }

  function setupReauth() {
    const dialog = $("#reauth");
    const form = $("#reauth-form");
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // Escape must not strand waiting work
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $(".form-error", form);
      error.textContent = "";
      const button = $("button[type=submit]", form);
      button.disabled = true;
      try {
        await signIn(form.username.value.trim(), form.password.value);
        dialog.close();
        const waiting = reauthWaiting; reauthWaiting = null;
        if (waiting) waiting.resolve();
        toast("Signed in again. Carrying on.");
      } catch (e) {
        error.textContent = e.status === 401 ? "Wrong username or password." : e.message;
      } finally {
        button.disabled = false;
      }
    });
    $("#reauth-signout").addEventListener("click", () => {
      dialog.close();
      const waiting = reauthWaiting; reauthWaiting = null;
      signOut();
      if (waiting) waiting.reject(new ApiError(401, "Unauthorized", "signed out"));
    });
  }

  function signOut() {
    session.clear();
    uploads.cancelAll();
    renderChrome();
    if (location.hash === "#/signin") route();
    else location.hash = "#/signin"; // hashchange routes
  }

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function formatDate(iso) {
    if (!iso) return null;
    const date = new Date(iso.length === 19 ? iso + "Z" : iso);
    return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
  }
  function formatBytes(n) {
    if (!Number.isFinite(n)) return null;
    if (n < 1024) return `${n} B`;
    const units = ["KB", "MB", "GB"];
    let value = n / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
  }
  function altText(item) {
    if (item.title) return item.title;
    const when = formatDate(item.taken_at || item.created_at);
    return when ? `Photo from ${when}` : "Photo";
  }
  const ratioOf = (item) => (item.width > 0 && item.height > 0 ? item.width / item.height : 1);

  /** The tile's stand-in while its image loads: the BlurHash, else the dominant colour, else neutral. */
  function placeholder(item, cls = "ph") {
    if (item.placeholder && window.BlurHash && window.BlurHash.isValid(item.placeholder)) {
      const ratio = ratioOf(item);
      const canvas = h("canvas", { class: cls, width: ratio >= 1 ? 32 : Math.max(4, Math.round(32 * ratio)), height: ratio >= 1 ? Math.max(4, Math.round(32 / ratio)) : 32, "aria-hidden": "true" });
      try { if (window.BlurHash.paint(canvas, item.placeholder)) return canvas; } catch (_) { /* fall through */ }
    }
    const div = h("div", { class: cls, "aria-hidden": "true" });
    if (/^#[0-9a-f]{6}$/i.test(item.dominant_color || "")) div.style.backgroundColor = item.dominant_color;
    return div;
  }

  // ---------------------------------------------------------------------------------------------
  // The grid: a justified layout done by CSS flexbox (each tile grows by its aspect ratio), so a
  // new page is appended without touching the tiles already there, and a resize needs no script.

  /* Modes: "library" (one's photos, a search, favourites), "album" (one of one's albums), "trash",
     "public" (Explore, a wall) and "share" (a share link's album, signed out). */
  class Gallery {
    constructor({ fetchPage, owner, emptyMessage, mode, album, actions, onChange }) {
      this.onChange = onChange || null;
      this.fetchPage = fetchPage;
      this.owner = owner; // true: the signed-in person's own photos (editable)
      this.mode = mode || (owner ? "library" : "public");
      this.album = album || null; // {id, ...} in an album
      this.actions = actions || []; // what the selection bar offers: [{label, icon, run(ids)}]
      this.selected = new Set();
      this.reordering = false;
      this.items = [];
      this.tiles = new Map();
      this.cursor = null;
      this.done = false;
      this.loading = null;
      this.emptyMessage = emptyMessage;
      this.grid = h("ul", { class: "grid", "aria-label": "Photos", "aria-busy": "true" });
      this.status = h("div", { class: "grid-status", role: "status" });
      this.sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
      this.empty = h("div", { class: "empty", hidden: true });
      this.bar = h("div", { class: "selbar", role: "toolbar", "aria-label": "Selected photos", hidden: true });
      this.root = h("section", { class: "gallery" }, this.bar, this.grid, this.empty, this.sentinel, this.status);
      this.observer = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) this.loadMore();
      }, { rootMargin: "1200px 0px" });
      this.observer.observe(this.sentinel);
    }

    destroy() { this.observer.disconnect(); this.destroyed = true; }

    async loadMore() {
      if (this.loading || this.done || this.destroyed) return this.loading;
      this.loading = (async () => {
        this.status.textContent = this.items.length ? "Loading more…" : "";
        this.status.classList.add("busy");
        try {
          const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
          if (this.cursor) params.set("cursor", this.cursor);
          const page = await this.fetchPage(params);
          if (this.destroyed) return;
          const fresh = page.items.filter((item) => !this.tiles.has(item.id));
          this.append(fresh);
          this.cursor = page.next_cursor;
          this.done = !page.next_cursor;
          this.status.textContent = "";
        } catch (error) {
          this.status.textContent = "";
          this.status.append(h("span", { text: `Could not load photos: ${error.message} ` }),
            h("button", { class: "btn small", type: "button", onclick: () => this.loadMore(), text: "Try again" }));
          this.done = false;
          throw error;
        } finally {
          this.status.classList.remove("busy");
          this.grid.setAttribute("aria-busy", "false");
          this.updateEmpty();
          this.loading = null;
        }
        // The sentinel may still be on screen (a tall window, a short page): keep filling.
        if (!this.done && this.sentinel.getBoundingClientRect().top < innerHeight + 1200) setTimeout(() => this.loadMore(), 0);
      })().catch(() => {});
      return this.loading;
    }

    updateEmpty() {
      if (this.onChange) this.onChange(this);
      const none = this.items.length === 0 && this.done;
      this.empty.hidden = !none;
      if (none && !this.empty.childElementCount) this.empty.append(this.emptyMessage());
    }

    append(items) {
      const fragment = document.createDocumentFragment();
      for (const item of items) {
        this.items.push(item);
        fragment.append(this.makeTile(item));
      }
      this.grid.append(fragment);
    }

    prepend(item) {
      if (this.tiles.has(item.id)) return this.update(item);
      // Ids sort by upload time: keep the grid newest first whatever order uploads finish in.
      const index = this.items.findIndex((x) => x.id < item.id);
      const tile = this.makeTile(item);
      if (index < 0) { this.items.push(item); this.grid.append(tile); }
      else { this.grid.insertBefore(tile, this.tiles.get(this.items[index].id)); this.items.splice(index, 0, item); }
      this.updateEmpty();
    }

    update(item) {
      const index = this.items.findIndex((x) => x.id === item.id);
      if (index < 0) return;
      this.items[index] = { ...this.items[index], ...item };
      const old = this.tiles.get(item.id);
      const tile = this.makeTile(this.items[index]);
      if (old) old.replaceWith(tile);
    }

    remove(id) {
      const index = this.items.findIndex((x) => x.id === id);
      if (index >= 0) this.items.splice(index, 1);
      const tile = this.tiles.get(id);
      if (tile) tile.remove();
      this.tiles.delete(id);
      if (this.selected.delete(id)) this.renderBar();
      this.updateEmpty();
      return index;
    }

    /** Put an item back where it was (an undone trash): at `index`, or by id in the library. */
    insertAt(item, index) {
      if (this.tiles.has(item.id)) return;
      if (this.mode === "library" || index < 0) { this.prepend(item); return; }
      const at = Math.min(index, this.items.length);
      const tile = this.makeTile(item);
      const before = this.items[at] && this.tiles.get(this.items[at].id);
      if (before) this.grid.insertBefore(tile, before); else this.grid.append(tile);
      this.items.splice(at, 0, item);
      this.updateEmpty();
    }

    // Selection: a check on each tile (on hover, or always once something is selected); a long
    // press selects on touch screens. While anything is selected, a tap selects instead of opening.

    toggle(id, on = !this.selected.has(id)) {
      if (on) this.selected.add(id); else this.selected.delete(id);
      const tile = this.tiles.get(id);
      if (tile) {
        tile.classList.toggle("selected", on);
        const check = tile.querySelector(".tile-check");
        check.setAttribute("aria-pressed", String(on));
        check.firstChild.replaceWith(icon(on ? "selected" : "unselected"));
      }
      this.renderBar();
    }

    clearSelection() {
      for (const id of [...this.selected]) this.toggle(id, false);
    }

    renderBar() {
      const count = this.selected.size;
      this.grid.classList.toggle("selecting", count > 0);
      this.bar.hidden = count === 0;
      if (!count) return;
      const ids = () => [...this.selected];
      this.bar.replaceChildren(
        h("button", { type: "button", class: "icon-btn", "aria-label": "Clear selection", title: "Clear selection", onclick: () => this.clearSelection() }, icon("close")),
        h("span", { class: "selbar-count", role: "status", text: `${count} selected` }),
        h("span", { class: "spacer" }),
        ...this.actions.map((action) => h("button", { type: "button", class: `btn ${action.kind || ""}`.trim(), onclick: () => action.run(ids()) },
          icon(action.icon), h("span", { class: "label", text: action.label }))));
    }

    /** A tile was activated: select it while selecting, else open it. */
    activate(item) {
      if (this.selected.size && this.owner) this.toggle(item.id);
      else lightbox.open(this, item.id);
    }

    // Reordering an album: move buttons on each tile, and drag and drop; every change PATCHes `order`.

    async setReordering(on) {
      this.reordering = on;
      this.grid.classList.toggle("reordering", on);
      if (on) { while (!this.done && !this.destroyed) await this.loadMore(); }
      for (const item of this.items) this.update(item);
    }

    move(id, step) {
      const from = this.items.findIndex((x) => x.id === id);
      const to = from + step;
      if (from < 0 || to < 0 || to >= this.items.length) return;
      const [item] = this.items.splice(from, 1);
      this.items.splice(to, 0, item);
      const tile = this.tiles.get(id);
      const next = this.items[to + 1];
      this.grid.insertBefore(tile, next ? this.tiles.get(next.id) : null);
      const button = tile.querySelector(step < 0 ? ".move-earlier" : ".move-later");
      this.refreshMoveButtons();
      if (button && !button.disabled) button.focus(); else tile.querySelector(".tile-btn").focus();
      this.saveOrder();
    }

    refreshMoveButtons() {
      this.items.forEach((item, i) => {
        const tile = this.tiles.get(item.id);
        if (!tile) return;
        const earlier = tile.querySelector(".move-earlier"), later = tile.querySelector(".move-later");
        if (earlier) earlier.disabled = i === 0;
        if (later) later.disabled = i === this.items.length - 1;
      });
    }

    saveOrder() {
      const order = this.items.map((x) => x.id);
      this.orderSave = (this.orderSave || Promise.resolve()).then(async () => {
        try {
          await api(`albums/${encodeURIComponent(this.album.id)}`, { method: "PATCH", body: { order } });
          this.status.textContent = "Order saved";
        } catch (error) { toast(`Could not save the order: ${error.message}`, "error"); }
      });
      return this.orderSave;
    }

    makeTile(item) {
      const ratio = ratioOf(item);
      const ready = !item.status || item.status === "ready";
      const li = h("li", { class: `tile ${ready ? "" : `is-${item.status}`}`.trim(), "data-id": item.id, "data-status": item.status || "ready" });
      li.style.setProperty("--r", ratio.toFixed(4));
      li.style.flexGrow = String(Math.round(ratio * 1000));
      const thumb = item.urls && item.urls.thumbnail;
      if (ready && thumb) {
        const img = h("img", { alt: altText(item), loading: "lazy", decoding: "async", src: thumb, width: item.width || undefined, height: item.height || undefined });
        img.addEventListener("load", () => li.classList.add("loaded"), { once: true });
        img.addEventListener("error", () => this.retryImage(item, img), { once: true });
        const button = h("button", { type: "button", class: "tile-btn", onclick: (e) => { if (!li.dataset.pressed) this.activate(item, e); } },
          placeholder(item), img);
        if (this.owner && item.visibility === "public") button.append(h("span", { class: "badge", title: "Public" }, icon("public"), h("span", { class: "sr-only", text: " (public)" })));
        li.append(button);
        if (this.owner) this.decorate(li, item, button);
      } else {
        const failed = item.status === "rejected" || item.status === "failed";
        const why = item.reason || item.error || "could not be processed";
        li.append(h("div", { class: "tile-btn", role: "img", "aria-label": failed ? `${item.filename || "Photo"}: ${why}` : `${item.filename || "Photo"}: processing` },
          placeholder(item),
          item.localPreview ? h("img", { class: "local-preview", src: item.localPreview, alt: "" }) : null,
          h("span", { class: "tile-state" }, failed ? icon("error") : h("span", { class: "spinner", "aria-hidden": "true" }),
            h("span", { text: failed ? why : "Processing…" }))));
        if (failed && this.owner) {
          li.append(h("button", { type: "button", class: "tile-remove", "aria-label": `Remove ${item.filename || "this upload"}`, onclick: () => deletePhoto(item.id, { confirm: false }) }, icon("close")));
        }
        if (!failed && this.owner) watchProcessing(item.id);
      }
      this.tiles.set(item.id, li);
      return li;
    }

    /** An owner's tile: its select check, its heart, a long press, and (in an album) move buttons. */
    decorate(li, item, button) {
      const name = altText(item);
      const on = this.selected.has(item.id);
      li.classList.toggle("selected", on);
      li.append(h("button", { type: "button", class: "tile-check", "aria-pressed": String(on), "aria-label": `Select ${name}`,
        onclick: () => this.toggle(item.id) }, icon(on ? "selected" : "unselected")));
      if (this.mode === "trash") {
        const days = item.deletes_at ? Math.max(0, Math.ceil((Date.parse(item.deletes_at) - Date.now()) / 86400000)) : null;
        if (days !== null) li.append(h("span", { class: "tile-note", title: `Deleted for good on ${formatDate(item.deletes_at)}`, text: days === 1 ? "1 day left" : `${days} days left` }));
      } else {
        li.append(h("button", { type: "button", class: `tile-fav${item.favorite ? " on" : ""}`, "aria-pressed": String(Boolean(item.favorite)),
          "aria-label": `Favourite ${name}`, onclick: () => toggleFavorite(this, item.id) }, icon(item.favorite ? "heart" : "heart-outline")));
      }
      if (this.mode === "album" && this.reordering) {
        li.draggable = true;
        const index = this.items.findIndex((x) => x.id === item.id);
        li.append(h("div", { class: "tile-move" },
          h("button", { type: "button", class: "icon-btn small move-earlier", "aria-label": `Move ${name} earlier`, title: "Move earlier", disabled: index === 0, onclick: () => this.move(item.id, -1) }, icon("prev")),
          h("button", { type: "button", class: "icon-btn small move-later", "aria-label": `Move ${name} later`, title: "Move later", disabled: index === this.items.length - 1, onclick: () => this.move(item.id, 1) }, icon("next"))));
        li.addEventListener("dragstart", (e) => { e.dataTransfer.setData("text/x-gallery-id", item.id); e.dataTransfer.effectAllowed = "move"; li.classList.add("dragging"); });
        li.addEventListener("dragend", () => li.classList.remove("dragging"));
        li.addEventListener("dragover", (e) => { if ([...e.dataTransfer.types].includes("text/x-gallery-id")) { e.preventDefault(); e.dataTransfer.dropEffect = "move"; } });
        li.addEventListener("drop", (e) => {
          const moved = e.dataTransfer.getData("text/x-gallery-id");
          if (!moved || moved === item.id) return;
          e.preventDefault();
          const from = this.items.findIndex((x) => x.id === moved), to = this.items.findIndex((x) => x.id === item.id);
          this.move(moved, to - from);
        });
      }
      // A long press (touch) selects, like a photo app on a phone.
      let timer = null;
      button.addEventListener("pointerdown", (e) => {
        if (e.pointerType === "mouse") return;
        delete li.dataset.pressed;
        timer = setTimeout(() => { li.dataset.pressed = "1"; this.toggle(item.id, true); if (navigator.vibrate) navigator.vibrate(10); }, 500);
      });
      const cancel = () => { clearTimeout(timer); timer = null; setTimeout(() => delete li.dataset.pressed, 0); };
      button.addEventListener("pointerup", cancel);
      button.addEventListener("pointercancel", cancel);
      button.addEventListener("pointermove", (e) => { if (timer && (Math.abs(e.movementX) + Math.abs(e.movementY) > 8)) cancel(); });
      button.addEventListener("contextmenu", (e) => { if (li.dataset.pressed) e.preventDefault(); });
    }

    /** Signed URLs age out: fetch a fresh record once for an owner's tile whose image failed. */
    async retryImage(item, img) {
      if (!this.owner) return;
      try {
        const fresh = await api(`images/${encodeURIComponent(item.id)}`);
        if (fresh.urls && fresh.urls.thumbnail && fresh.urls.thumbnail !== img.src) img.src = fresh.urls.thumbnail;
      } catch (_) { /* leave the placeholder */ }
    }
  }

  const processing = new Set();
  /** Poll a photo until it leaves processing, then repaint its tile wherever it is shown. */
  async function watchProcessing(id) {
    if (processing.has(id)) return;
    processing.add(id);
    try {
      const photo = await pollUntilDone(id);
      if (current.gallery && current.gallery.mode === "library") {
        if (photo) current.gallery.update(photo);
      }
    } catch (_) { /* the tile stays as it is */ } finally {
      processing.delete(id);
    }
  }

  async function pollUntilDone(id, onTick) {
    const started = Date.now();
    let delay = 700;
    while (Date.now() - started < 5 * 60 * 1000) {
      const photo = await api(`images/${encodeURIComponent(id)}`);
      if (onTick) onTick(photo);
      if (photo.status === "ready" || photo.status === "rejected" || photo.status === "failed") return photo;
      await sleep(delay);
      delay = Math.min(delay * 1.4, 3000);
    }
    throw new Error("processing is taking too long; it will appear when it is done");
  }

  // ---------------------------------------------------------------------------------------------
  // Uploads: a queue, at most four transfers at once, each with its own row and progress bar.

  function contentTypeOf(file) {
    if (ACCEPTED_TYPES.has(file.type)) return file.type;
    const ext = (file.name.split(".").pop() || "").toLowerCase();
    return ACCEPTED[ext] || file.type || "application/octet-stream";
  }

  function sendBytes(upload, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      let body = file;
      xhr.open(upload.method || "PUT", upload.url);
      if (upload.method === "POST" && upload.fields) {
        body = new FormData();
        for (const [k, v] of Object.entries(upload.fields)) body.append(k, v);
        body.append("file", file);
      } else {
        for (const [k, v] of Object.entries(upload.headers || {})) xhr.setRequestHeader(k, v);
      }
      xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
      xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`storage answered ${xhr.status}`))));
      xhr.addEventListener("error", () => reject(new Error("network error while sending")));
      xhr.addEventListener("abort", () => reject(new Error("cancelled")));
      xhr.send(body);
    });
  }

  const uploads = {
    queue: [],
    active: 0,
    rows: [],
    generation: 0,

    add(files) {
      if (SHARE_PATH.test(location.pathname)) return;
      if (!session.signedIn) { location.hash = "#/signin"; return; }
      const list = [...files];
      if (!list.length) return;
      const panel = $("#uploads");
      panel.hidden = false;
      this.setCollapsed(false);
      for (const file of list) {
        const row = this.makeRow(file);
        this.rows.push(row);
        $("#uploads-list").append(row.el);
        this.queue.push(row);
      }
      this.updateTitle();
      this.pump();
      if (current.name !== "photos") location.hash = "#/";
    },

    makeRow(file) {
      const bar = h("progress", { max: "100", value: "0", "aria-label": `Upload progress of ${file.name}` });
      const status = h("span", { class: "up-status", text: "Waiting…" });
      // The browser shows most formats itself (not HEIC): a preview before the server's thumbnail.
      const preview = /^image\/(jpeg|png|webp|gif|avif)$/.test(contentTypeOf(file)) ? URL.createObjectURL(file) : null;
      const thumb = h("span", { class: "up-thumb", "aria-hidden": "true" }, preview ? h("img", { src: preview, alt: "" }) : icon("photos"));
      const el = h("li", { class: "up-row", "data-state": "queued" }, thumb,
        h("div", { class: "up-main" }, h("span", { class: "up-name", text: file.name, title: file.name }), bar, status));
      return { file, el, bar, status, thumb, preview, state: "queued", generation: this.generation };
    },

    setState(row, state, text) {
      row.state = state;
      row.el.dataset.state = state;
      row.status.textContent = text;
      this.updateTitle();
    },

    updateTitle() {
      const total = this.rows.length;
      const done = this.rows.filter((r) => r.state === "done").length;
      const failed = this.rows.filter((r) => r.state === "error").length;
      const busy = total - done - failed;
      let title = busy ? `Uploading · ${done} of ${total} done` : `${done} uploaded`;
      if (!busy && failed) title += ` · ${failed} failed`;
      $("#uploads-title").textContent = title;
    },

    pump() {
      while (this.active < UPLOAD_CONCURRENCY && this.queue.length) {
        const row = this.queue.shift();
        this.active++;
        this.transfer(row).finally(() => { this.active--; this.pump(); });
      }
    },

    /** Grant, send (the slot is held only while bytes move), then poll without holding a slot. */
    async transfer(row) {
      const { file } = row;
      try {
        this.setState(row, "sending", "Starting…");
        let grant = null;
        for (let attempt = 0; ; attempt++) {
          grant = await api("uploads", { method: "POST", body: { filename: file.name, content_type: contentTypeOf(file), size: file.size } });
          if (row.generation !== this.generation) return;
          row.id = grant.id;
          try {
            await sendBytes(grant.upload, file, (fraction) => {
              row.bar.value = Math.round(fraction * 100);
              row.status.textContent = `${Math.round(fraction * 100)}% · ${formatBytes(file.size)}`;
            });
            break;
          } catch (error) {
            if (attempt >= 1) throw error; // one retry with a fresh grant (its URL may have expired)
          }
        }
        row.bar.value = 100;
        this.setState(row, "processing", "Processing…");
        processing.add(grant.id); // this row polls it; the grid's tile must not poll it a second time
        if (current.gallery && current.gallery.mode === "library") {
          current.gallery.prepend({ ...grant.photo, status: "processing", localPreview: row.preview });
        }
        this.finish(row, grant.id);
      } catch (error) {
        if (row.generation === this.generation) this.setState(row, "error", error.message);
      }
    },

    async finish(row, id) {
      try {
        const photo = await pollUntilDone(id);
        if (row.generation !== this.generation) return;
        if (photo.status === "ready") {
          this.setState(row, "done", "Done");
          row.bar.hidden = true;
          if (photo.urls && photo.urls.thumbnail) row.thumb.replaceChildren(h("img", { src: photo.urls.thumbnail, alt: "" }));
          if (row.preview) { URL.revokeObjectURL(row.preview); row.preview = null; }
          if (current.gallery && current.gallery.mode === "library") current.gallery.prepend(photo);
        } else {
          const why = photo.reason || photo.error || "could not be processed";
          this.setState(row, "error", `Not added: ${why}`);
          row.thumb.replaceChildren(icon("error"));
          if (row.preview) { URL.revokeObjectURL(row.preview); row.preview = null; }
          if (current.gallery && current.gallery.mode === "library") current.gallery.remove(id);
        }
      } catch (error) {
        if (row.generation === this.generation) this.setState(row, "error", error.message);
      } finally {
        processing.delete(id);
      }
    },

    setCollapsed(collapsed) {
      const button = $("#uploads-toggle");
      $("#uploads").classList.toggle("collapsed", collapsed);
      button.setAttribute("aria-expanded", String(!collapsed));
      button.setAttribute("aria-label", collapsed ? "Expand uploads" : "Collapse uploads");
    },

    close() {
      // Finished rows go; rows still working stay (closing must not lose an upload).
      this.rows = this.rows.filter((r) => {
        const finished = r.state === "done" || r.state === "error";
        if (finished) r.el.remove();
        return !finished;
      });
      if (!this.rows.length) $("#uploads").hidden = true;
      else toast("Uploads still in progress stay in the list.");
    },

    cancelAll() {
      this.generation++;
      this.queue = [];
      this.rows = [];
      $("#uploads-list").replaceChildren();
      $("#uploads").hidden = true;
    },
  };

  function setupUploads() {
    const input = $("#file-input");
    $("#upload-button").addEventListener("click", () => input.click());
    input.addEventListener("change", () => { uploads.add(input.files); input.value = ""; });
    $("#uploads-toggle").addEventListener("click", () => uploads.setCollapsed(!$("#uploads").classList.contains("collapsed")));
    $("#uploads-close").addEventListener("click", () => uploads.close());

    const zone = $("#dropzone");
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    addEventListener("dragenter", (e) => {
      if (!hasFiles(e) || !session.signedIn) return;
      e.preventDefault();
      depth++;
      zone.hidden = false;
    });
    addEventListener("dragover", (e) => {
      if (!hasFiles(e) || !session.signedIn) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) zone.hidden = true; });
    addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      zone.hidden = true;
      if (!session.signedIn) { toast("Sign in to upload photos.", "error"); return; }
      uploads.add(e.dataTransfer.files);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Lightbox: a modal <dialog> (the page behind is inert, so focus stays inside; Escape closes).

  /* Edits of one photo are saved one request at a time, always with the latest text: two saves in
     flight at once (a blur, then Enter; both held while the person signs in again) could otherwise
     land in either order and leave the older text. */
  const saves = new Map(); // photo id -> { latest, status, running }

  function saveEdit(gallery, edit) {
    const entry = saves.get(edit.id) || { running: null };
    entry.latest = { title: edit.title, description: edit.description };
    entry.status = edit.saved;
    saves.set(edit.id, entry);
    if (!entry.running) entry.running = runSaves(gallery, edit.id, entry);
    return entry.running;
  }

  async function runSaves(gallery, id, entry) {
    try {
      while (entry.latest) {
        const body = entry.latest;
        entry.latest = null;
        entry.status.textContent = "Saving…";
        try {
          const photo = await api(`images/${encodeURIComponent(id)}`, { method: "PATCH", body });
          gallery.update(photo);
          if (!entry.latest) entry.status.textContent = "Saved";
        } catch (error) {
          entry.status.textContent = `Not saved: ${error.message}`;
          if (!lightbox.dirty && lightbox.item && lightbox.item.id === id) lightbox.dirty = { id, ...body, saved: entry.status };
          if (!entry.latest) break;
        }
      }
    } finally {
      saves.delete(id);
    }
  }

  const lightbox = {
    gallery: null,
    index: -1,
    dirty: null,

    get item() { return this.gallery && this.gallery.items[this.index]; },

    open(gallery, id) {
      this.gallery = gallery;
      this.index = gallery.items.findIndex((x) => x.id === id);
      if (this.index < 0) return;
      this.opener = document.activeElement;
      const dialog = $("#lightbox");
      if (!dialog.open) dialog.showModal();
      this.show();
      $("#lb-close").focus();
    },

    async close() {
      await this.flush();
      const dialog = $("#lightbox");
      if (dialog.open) dialog.close();
    },

    async go(step) {
      if (!this.gallery) return;
      await this.flush();
      let next = this.index + step;
      const items = this.gallery.items;
      if (next >= items.length && !this.gallery.done) {
        await this.gallery.loadMore();
      }
      next = Math.max(0, Math.min(next, items.length - 1));
      // Skip tiles that are still processing or were rejected: they have nothing to show.
      while (items[next] && items[next].status && items[next].status !== "ready") {
        next += step;
        if (next < 0 || next >= items.length) return;
      }
      if (next === this.index || !items[next]) return;
      this.index = next;
      this.show();
    },

    show() {
      const item = this.item;
      if (!item) return this.close();
      const owner = this.gallery.owner;
      const frame = $("#lb-frame");
      frame.style.setProperty("--ar", ratioOf(item).toFixed(4));
      const ph = placeholder(item, "lb-ph");
      ph.id = "lb-ph";
      $("#lb-ph").replaceWith(ph);
      const thumb = $("#lb-thumb");
      const img = $("#lb-img");
      frame.classList.remove("loaded");
      thumb.src = (item.urls && item.urls.thumbnail) || "";
      img.alt = altText(item);
      img.onload = () => { if (this.item === item) frame.classList.add("loaded"); };
      img.src = (item.urls && (item.urls.preview || item.urls.thumbnail)) || "";
      const items = this.gallery.items;
      $("#lb-count").textContent = `${this.index + 1} of ${items.length}${this.gallery.done ? "" : "+"}`;
      $("#lb-prev").disabled = this.index === 0;
      $("#lb-next").disabled = this.index >= items.length - 1 && this.gallery.done;
      const mode = this.gallery.mode;
      const trash = mode === "trash";
      const download = $("#lb-download");
      download.hidden = trash || !(item.urls && item.urls.download);
      if (!download.hidden) download.href = item.urls.download;
      $("#lb-delete").hidden = !owner || trash;
      for (const id of ["#lb-fav", "#lb-album", "#lb-share"]) $(id).hidden = !owner || trash;
      $("#lb-restore").hidden = $("#lb-forever").hidden = !trash;
      const fav = $("#lb-fav");
      fav.setAttribute("aria-pressed", String(Boolean(item.favorite)));
      fav.title = item.favorite ? "Remove from favourites" : "Favourite";
      fav.classList.toggle("on", Boolean(item.favorite));
      fav.firstElementChild.replaceWith(icon(item.favorite ? "heart" : "heart-outline"));
      for (const neighbour of [items[this.index + 1], items[this.index - 1]]) {
        if (neighbour && neighbour.urls && neighbour.urls.preview) new Image().src = neighbour.urls.preview;
      }
      this.renderInfo(item, owner);
    },

    renderInfo(item, owner) {
      const info = $("#lb-info");
      const camera = item.camera || {};
      const exposure = [camera.aperture && `ƒ/${camera.aperture}`, camera.exposure && `${camera.exposure} s`,
        camera.focal_length && `${camera.focal_length} mm`, camera.iso && `ISO ${camera.iso}`].filter(Boolean).join(" · ");
      const details = [
        ["Taken", formatDate(item.taken_at)],
        ["Uploaded", formatDate(item.created_at)],
        ["Camera", [camera.make, camera.model].filter(Boolean).join(" ")],
        ["Lens", camera.lens],
        ["Exposure", exposure],
        ["Dimensions", item.width && item.height ? `${item.width} × ${item.height} · ${((item.width * item.height) / 1e6).toFixed(1)} MP` : null],
        ["Size", formatBytes(item.size)],
        ["File", item.filename],
      ].filter(([, v]) => v);
      const dl = h("dl", { class: "details" }, details.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
      info.replaceChildren();
      if (owner) {
        const title = h("input", { class: "edit-title", id: "lb-title", "aria-label": "Title", placeholder: "Add a title", maxlength: "200", value: item.title || "" });
        const description = h("textarea", { class: "edit-description", id: "lb-description", "aria-label": "Description", placeholder: "Add a description", rows: "3", maxlength: "2000" });
        description.value = item.description || "";
        const saved = h("p", { class: "save-state", role: "status", "aria-live": "polite" });
        const mark = () => { this.dirty = { id: item.id, title: title.value, description: description.value, saved }; saved.textContent = ""; };
        title.addEventListener("input", mark);
        description.addEventListener("input", mark);
        title.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); this.flush(); } });
        description.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.flush(); } });
        title.addEventListener("blur", () => this.flush());
        description.addEventListener("blur", () => this.flush());
        const isPublic = item.visibility === "public";
        const toggle = h("button", { type: "button", class: "switch", role: "switch", id: "lb-visibility", "aria-checked": String(isPublic), "aria-describedby": "lb-visibility-hint",
          onclick: () => this.setVisibility(item, toggle) }, h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })), h("span", { text: "Public" }));
        const hint = h("p", { class: "hint", id: "lb-visibility-hint", text: isPublic ? "Anyone can see it in Explore and on your page." : "Only you can see it." });
        info.append(h("div", { class: "info-block" }, title, description, saved));
        if (this.gallery.mode === "trash") {
          info.append(h("p", { class: "hint trash-note", text: `In the trash: deleted for good on ${formatDate(item.deletes_at)}.` }));
        } else {
          info.append(h("div", { class: "info-block visibility" }, icon(isPublic ? "public" : "lock", "muted"), h("div", {}, toggle, hint)));
        }
        const album = this.gallery.album;
        if (this.gallery.mode === "album" && album) {
          const isCover = album.cover_image_id === item.id;
          info.append(h("div", { class: "info-block" }, h("h3", { class: "info-head", text: `Album · ${album.title}` }),
            h("div", { class: "info-actions" },
              h("button", { type: "button", class: "btn small dark", id: "lb-cover", disabled: isCover, onclick: () => setCover(this.gallery, item.id) },
                icon("photos"), isCover ? "Album cover" : "Use as album cover"),
              h("button", { type: "button", class: "btn small dark", id: "lb-remove", onclick: () => removeFromAlbum(this.gallery, [item.id]) },
                icon("remove"), "Remove from album"))));
        }
      } else {
        info.append(h("div", { class: "info-block" },
          h("h2", { class: "info-title", text: item.title || "Untitled" }),
          item.description ? h("p", { class: "info-description", text: item.description }) : null,
          item.owner ? h("p", { class: "info-owner" }, "by ", h("a", { href: `#/u/${encodeURIComponent(item.owner)}`, onclick: () => this.close(), text: `@${item.owner}` })) : null));
      }
      info.append(h("div", { class: "info-block" }, h("h3", { class: "info-head", text: "Details" }), dl));
    },

    /** Save a pending title/description edit; kept and retried across a re-sign-in by `api`. */
    flush() {
      const edit = this.dirty;
      if (!edit) return Promise.resolve();
      this.dirty = null;
      const before = this.gallery.items.find((x) => x.id === edit.id);
      const unchanged = before && (before.title || "") === edit.title && (before.description || "") === edit.description;
      if (unchanged && !saves.has(edit.id)) return Promise.resolve();
      return saveEdit(this.gallery, edit);
    },

    async setVisibility(item, toggle) {
      const visibility = item.visibility === "public" ? "private" : "public";
      toggle.disabled = true;
      try {
        const photo = await api(`images/${encodeURIComponent(item.id)}`, { method: "PATCH", body: { visibility } });
        this.gallery.update(photo);
        if (this.item && this.item.id === photo.id) this.renderInfo(this.item, true);
        $("#lb-visibility").focus();
        toast(visibility === "public" ? "Shared publicly" : "Made private");
      } catch (error) {
        toast(`Could not change visibility: ${error.message}`, "error");
        toggle.disabled = false;
      }
    },
  };

  function setupLightbox() {
    const dialog = $("#lightbox");
    $("#lb-close").addEventListener("click", () => lightbox.close());
    $("#lb-prev").addEventListener("click", () => lightbox.go(-1));
    $("#lb-next").addEventListener("click", () => lightbox.go(1));
    $("#lb-delete").addEventListener("click", () => lightbox.item && trashPhotos(lightbox.gallery, [lightbox.item.id]));
    $("#lb-fav").addEventListener("click", () => lightbox.item && toggleFavorite(lightbox.gallery, lightbox.item.id));
    $("#lb-album").addEventListener("click", () => lightbox.item && addToAlbumDialog([lightbox.item.id]));
    $("#lb-share").addEventListener("click", () => lightbox.item && shareDialog({ image_id: lightbox.item.id, name: altText(lightbox.item) }));
    $("#lb-restore").addEventListener("click", () => lightbox.item && restorePhotos(lightbox.gallery, [lightbox.item.id]));
    $("#lb-forever").addEventListener("click", () => lightbox.item && deleteForever(lightbox.gallery, [lightbox.item.id]));
    $("#lb-info-toggle").addEventListener("click", (e) => {
      const shown = dialog.classList.toggle("info-hidden") === false;
      e.currentTarget.setAttribute("aria-pressed", String(shown));
    });
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); lightbox.close(); });
    dialog.addEventListener("close", () => {
      const item = lightbox.item;
      const tile = item && lightbox.gallery.tiles.get(item.id);
      const target = tile && tile.querySelector(".tile-btn");
      if (target) target.focus();
      else if (lightbox.opener && lightbox.opener.isConnected) lightbox.opener.focus();
    });
    dialog.addEventListener("keydown", (e) => {
      if (e.key === "Tab") trapFocus(dialog, e);
      const editing = e.target.matches("input, textarea");
      if (editing) return;
      if (e.key === "ArrowRight") { e.preventDefault(); lightbox.go(1); }
      if (e.key === "ArrowLeft") { e.preventDefault(); lightbox.go(-1); }
    });
    // Swipe: a mostly horizontal drag of 50 px or more on the photo.
    const stage = $("#lb-stage");
    let start = null;
    stage.addEventListener("pointerdown", (e) => { if (e.pointerType !== "mouse") start = { x: e.clientX, y: e.clientY }; });
    stage.addEventListener("pointerup", (e) => {
      if (!start) return;
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      start = null;
      if (Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy) * 1.5) lightbox.go(dx < 0 ? 1 : -1);
    });
    stage.addEventListener("pointercancel", () => { start = null; });
  }

  /** Keep Tab inside a dialog: the page behind is inert, but the browser's own UI is not. */
  function trapFocus(dialog, event) {
    const focusable = [...dialog.querySelectorAll("button, [href], input, textarea, select, [tabindex]:not([tabindex='-1'])")]
      .filter((el) => !el.disabled && !el.hidden && el.offsetParent !== null);
    if (!focusable.length) return;
    const first = focusable[0], last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  }

  /** The confirmation dialog; resolves true when confirmed. Defaults: deleting a photo. */
  function confirmDialog({ title, text, action } = {}) {
    const dialog = $("#confirm");
    const defaults = dialog.dataset;
    if (!defaults.title) {
      defaults.title = $("#confirm-title").textContent;
      defaults.text = $("#confirm-text").textContent;
      defaults.action = $("#confirm-ok").textContent;
    }
    $("#confirm-title").textContent = title || defaults.title;
    $("#confirm-text").textContent = text || defaults.text;
    $("#confirm-ok").textContent = action || defaults.action;
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
    });
  }

  async function deletePhoto(id, { confirm }) {
    if (confirm && !(await confirmDialog())) return;
    const gallery = current.gallery;
    const inLightbox = $("#lightbox").open && lightbox.item && lightbox.item.id === id;
    try {
      await api(`images/${encodeURIComponent(id)}`, { method: "DELETE" });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) { toast(`Could not delete: ${error.message}`, "error"); return; }
    }
    if (inLightbox) lightbox.dirty = null;
    if (gallery) dropFromView(gallery, [id]);
    toast("Photo deleted");
  }

  /** Take photos out of a view; a lightbox showing one of them moves on to the next photo. */
  function dropFromView(gallery, ids) {
    const viewer = $("#lightbox");
    const shown = viewer.open && lightbox.gallery === gallery && lightbox.item && ids.includes(lightbox.item.id);
    const shownId = shown ? lightbox.item.id : null;
    let index = -1;
    const places = new Map();
    for (const id of ids) {
      const at = gallery.remove(id);
      places.set(id, at);
      if (id === shownId) index = at;
    }
    if (shown || (viewer.open && lightbox.gallery === gallery && !lightbox.item)) {
      lightbox.dirty = null;
      if (!gallery.items.length) viewer.close();
      else { lightbox.index = Math.min(Math.max(index, 0), gallery.items.length - 1); lightbox.show(); $("#lb-close").focus(); }
    }
    return places;
  }

  const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

  /** Call `request(id)` for each id, four at a time; resolves to the ids that succeeded. */
  async function eachId(ids, request) {
    const done = [], failed = [];
    const queue = [...ids];
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, async () => {
      while (queue.length) {
        const id = queue.shift();
        try { await request(id); done.push(id); } catch (error) { failed.push(error); }
      }
    }));
    if (failed.length) toast(`${plural(failed.length, "photo")} could not be changed: ${failed[0].message}`, "error");
    return done;
  }

  /** Move photos to the trash, with Undo in the toast (the trash keeps them TRASH_DAYS days). */
  async function trashPhotos(gallery, ids) {
    await lightbox.flush();
    const items = new Map(gallery.items.filter((x) => ids.includes(x.id)).map((x) => [x.id, x]));
    const done = await eachId(ids, (id) => api(`images/${encodeURIComponent(id)}/trash`, { method: "POST" }));
    if (!done.length) return;
    const places = dropFromView(gallery, done);
    toast(done.length === 1 ? "Moved to trash" : `${plural(done.length, "photo")} moved to trash`, "info", {
      label: "Undo",
      run: async () => {
        const back = await eachId(done, (id) => api(`images/${encodeURIComponent(id)}/restore`, { method: "POST" }));
        if (!gallery.destroyed) {
          for (const id of [...back].reverse()) if (items.has(id)) gallery.insertAt(items.get(id), places.get(id));
        }
        if (back.length) toast(back.length === 1 ? "Photo restored" : `${plural(back.length, "photo")} restored`);
      },
    });
  }

  async function restorePhotos(gallery, ids) {
    const done = await eachId(ids, (id) => api(`images/${encodeURIComponent(id)}/restore`, { method: "POST" }));
    if (!done.length) return;
    dropFromView(gallery, done);
    toast(done.length === 1 ? "Photo restored" : `${plural(done.length, "photo")} restored`);
  }

  async function deleteForever(gallery, ids) {
    const one = ids.length === 1;
    const sure = await confirmDialog({ title: one ? "Delete this photo forever?" : `Delete ${ids.length} photos forever?`, action: "Delete forever",
      text: `${one ? "It" : "They"} will be removed for good. This can’t be undone.` });
    if (!sure) return;
    const done = await eachId(ids, (id) => api(`images/${encodeURIComponent(id)}`, { method: "DELETE" }).catch((error) => {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }));
    dropFromView(gallery, done);
    if (done.length) toast(done.length === 1 ? "Photo deleted forever" : `${plural(done.length, "photo")} deleted forever`);
  }

  async function toggleFavorite(gallery, id) {
    await lightbox.flush();
    const item = gallery.items.find((x) => x.id === id);
    if (!item) return;
    const favorite = !item.favorite;
    const focused = document.activeElement;
    const fromTile = focused && focused.classList.contains("tile-fav");
    try {
      const photo = await api(`images/${encodeURIComponent(id)}`, { method: "PATCH", body: { favorite } });
      gallery.update(photo);
      if ($("#lightbox").open && lightbox.item && lightbox.item.id === id) lightbox.show();
      if (fromTile) { const again = gallery.tiles.get(id)?.querySelector(".tile-fav"); if (again) again.focus(); }
      toast(favorite ? "Added to favourites" : "Removed from favourites");
    } catch (error) { toast(`Could not change the favourite: ${error.message}`, "error"); }
  }

  // ---------------------------------------------------------------------------------------------
  // Views and routing (hash routes: #/, #/feed, #/u/alice, #/signin, #/signup)

  const current = { name: null, gallery: null };

  function setView(name, ...nodes) {
    if (current.gallery) current.gallery.destroy();
    current.gallery = null;
    current.name = name;
    const main = $("#main");
    const hadFocus = main.contains(document.activeElement);
    main.replaceChildren(...nodes);
    // A new view: start keyboard navigation at its top, as a page load would.
    if (hadFocus || document.activeElement === document.body) main.focus({ preventScroll: true });
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  function showGallery(name, header, options) {
    const gallery = new Gallery(options);
    setView(name, header, gallery.root);
    current.gallery = gallery;
    gallery.loadMore();
    return gallery;
  }

  function emptyLibrary() {
    return h("div", { class: "empty-inner" }, icon("photos", "big"),
      h("h2", { text: "No photos yet" }),
      h("p", { text: "Drag photos anywhere on this page, or choose some from your device." }),
      h("button", { type: "button", class: "btn primary", onclick: () => $("#file-input").click() }, icon("upload"), " Upload photos"));
  }

  // ---------------------------------------------------------------------------------------------
  // Dialogs made on the fly: a modal <dialog> removed when closed, focus back where it was.

  function modal(title, ...content) {
    const titleId = `modal-${Math.random().toString(36).slice(2, 9)}`;
    const dialog = h("dialog", { class: "modal", "aria-labelledby": titleId }, h("h2", { id: titleId, text: title }), ...content);
    const opener = document.activeElement;
    dialog.addEventListener("keydown", (e) => { if (e.key === "Tab") trapFocus(dialog, e); });
    dialog.addEventListener("close", () => {
      const box = $("#toasts");
      if (dialog.contains(box)) document.body.append(box);
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    return dialog;
  }

  const cancelButton = (dialog, text = "Cancel") => h("button", { type: "button", class: "btn", text, onclick: () => dialog().close() });

  // ---------------------------------------------------------------------------------------------
  // Albums

  async function allAlbums() {
    const albums = [];
    let cursor = null;
    do {
      const params = new URLSearchParams({ limit: "100" });
      if (cursor) params.set("cursor", cursor);
      const page = await api(`albums?${params}`);
      albums.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return albums;
  }

  function albumForm({ title = "", description = "" } = {}) {
    const titleInput = h("input", { name: "title", maxlength: "200", required: true, value: title });
    const descInput = h("textarea", { name: "description", rows: "3", maxlength: "2000" });
    descInput.value = description;
    return { titleInput, descInput, fields: [
      h("label", { class: "field" }, h("span", { text: "Title" }), titleInput),
      h("label", { class: "field" }, h("span", { text: "Description" }), descInput)] };
  }

  function newAlbumDialog() {
    const { titleInput, descInput, fields } = albumForm();
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h("form", { novalidate: true }, ...fields, error,
      h("div", { class: "modal-actions" }, cancelButton(() => dialog), h("button", { type: "submit", class: "btn primary", text: "Create" })));
    const dialog = modal("New album", form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!titleInput.value.trim()) { error.textContent = "Give the album a title."; titleInput.focus(); return; }
      try {
        const album = await api("albums", { method: "POST", body: { title: titleInput.value.trim(), description: descInput.value.trim() } });
        dialog.close();
        location.hash = `#/albums/${album.id}`;
      } catch (err) { error.textContent = err.message; }
    });
    titleInput.focus();
  }

  async function addToAlbumDialog(ids) {
    if (!ids.length) return;
    await lightbox.flush();
    const list = h("ul", { class: "album-picker", "aria-label": "Your albums" });
    const status = h("p", { class: "muted", role: "status", text: "Loading albums…" });
    const titleInput = h("input", { name: "title", maxlength: "200", "aria-label": "New album title", placeholder: "New album title" });
    const create = h("form", { class: "new-album", novalidate: true }, titleInput,
      h("button", { type: "submit", class: "btn" }, icon("add"), "New album"));
    const dialog = modal(ids.length === 1 ? "Add to album" : `Add ${ids.length} photos to an album`, create, status, list,
      h("div", { class: "modal-actions" }, cancelButton(() => dialog)));
    const add = async (album) => {
      try {
        await api(`albums/${encodeURIComponent(album.id)}/images`, { method: "POST", body: { image_ids: ids } });
        dialog.close();
        if (current.gallery && current.gallery.clearSelection) current.gallery.clearSelection();
        toast(`Added ${plural(ids.length, "photo")} to “${album.title}”`, "info",
          { label: "Open", run: () => { location.hash = `#/albums/${album.id}`; } });
      } catch (error) { status.textContent = `Could not add: ${error.message}`; }
    };
    create.addEventListener("submit", async (e) => {
      e.preventDefault();
      const title = titleInput.value.trim();
      if (!title) { status.textContent = "Type a title for the new album."; titleInput.focus(); return; }
      try { await add(await api("albums", { method: "POST", body: { title } })); } catch (error) { status.textContent = error.message; }
    });
    try {
      const albums = await allAlbums();
      status.textContent = albums.length ? "" : "No albums yet: name a new one above.";
      list.replaceChildren(...albums.map((album) => h("li", {},
        h("button", { type: "button", class: "album-choice", onclick: () => add(album) }, icon("album"), h("span", { text: album.title })))));
      const first = list.querySelector("button");
      (first || titleInput).focus();
    } catch (error) { status.textContent = `Could not load albums: ${error.message}`; titleInput.focus(); }
  }

  async function removeFromAlbum(gallery, ids) {
    const album = gallery.album;
    const done = await eachId(ids, (id) => api(`albums/${encodeURIComponent(album.id)}/images/${encodeURIComponent(id)}`, { method: "DELETE" }));
    if (!done.length) return;
    dropFromView(gallery, done);
    toast(done.length === 1 ? "Removed from album" : `${plural(done.length, "photo")} removed from album`);
  }

  async function setCover(gallery, id) {
    try {
      const saved = await api(`albums/${encodeURIComponent(gallery.album.id)}`, { method: "PATCH", body: { cover_image_id: id } });
      Object.assign(gallery.album, saved);
      if ($("#lightbox").open) lightbox.show();
      toast("Album cover set");
    } catch (error) { toast(`Could not set the cover: ${error.message}`, "error"); }
  }

  function viewAlbums() {
    document.title = "Albums · Gallery";
    const list = h("ul", { class: "albums", "aria-label": "Albums", "aria-busy": "true" });
    const status = h("div", { class: "grid-status busy", role: "status" });
    const head = h("div", { class: "page-head" }, h("h1", { text: "Albums" }),
      h("button", { type: "button", class: "btn primary head-end", onclick: newAlbumDialog }, icon("add"), "New album"));
    const links = h("nav", { class: "library-links", "aria-label": "Library" },
      h("a", { class: "chip", href: "#/favorites" }, icon("heart"), "Favourites"),
      h("a", { class: "chip", href: "#/shared" }, icon("link"), "Shared links"),
      h("a", { class: "chip", href: "#/trash" }, icon("delete"), "Trash"));
    setView("albums", head, links, list, status);
    allAlbums().then((albums) => {
      status.classList.remove("busy");
      list.setAttribute("aria-busy", "false");
      if (!albums.length) {
        status.replaceWith(h("div", { class: "empty-inner" }, icon("album", "big"), h("h2", { text: "No albums yet" }),
          h("p", { text: "Select photos in Photos and choose Add to album, or make an empty one here." }),
          h("button", { type: "button", class: "btn primary", onclick: newAlbumDialog }, icon("add"), "New album")));
        return;
      }
      status.textContent = "";
      list.replaceChildren(...albums.map(albumCard));
    }).catch((error) => {
      status.classList.remove("busy");
      status.replaceChildren(h("span", { text: `Could not load albums: ${error.message} ` }),
        h("button", { type: "button", class: "btn small", text: "Try again", onclick: viewAlbums }));
    });
  }

  function albumCard(album) {
    const cover = h("span", { class: "album-cover", "aria-hidden": "true" }, icon("album"));
    const count = h("span", { class: "album-count", text: plural(album.count ?? 0, "photo") });
    const card = h("li", { class: "album-card", "data-id": album.id },
      h("a", { href: `#/albums/${album.id}` }, cover, h("span", { class: "album-title", text: album.title }), count));
    const photo = album.cover;  // the list answers each album's count and cover: no request per card
    if (photo && photo.urls && photo.urls.thumbnail) {
      const img = h("img", { src: photo.urls.thumbnail, alt: "", loading: "lazy" });
      img.addEventListener("load", () => cover.classList.add("loaded"), { once: true });
      cover.replaceChildren(placeholder(photo), img);
    }
    return card;
  }

  function editAlbumDialog(album, onSaved) {
    const { titleInput, descInput, fields } = albumForm(album);
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h("form", { novalidate: true }, ...fields, error,
      h("div", { class: "modal-actions" }, cancelButton(() => dialog), h("button", { type: "submit", class: "btn primary", text: "Save" })));
    const dialog = modal("Edit album", form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!titleInput.value.trim()) { error.textContent = "An album needs a title."; titleInput.focus(); return; }
      try {
        const saved = await api(`albums/${encodeURIComponent(album.id)}`, { method: "PATCH", body: { title: titleInput.value.trim(), description: descInput.value.trim() } });
        dialog.close();
        onSaved(saved);
        toast("Album saved");
      } catch (err) { error.textContent = err.message; }
    });
    titleInput.focus();
  }

  function viewAlbum(id) {
    document.title = "Album · Gallery";
    const album = { id, title: "", description: "", cover_image_id: null, order: null };
    const title = h("h1", { text: "Album" });
    const description = h("p", { class: "muted album-description" });
    const meta = h("p", { class: "muted album-meta" });
    const render = () => {
      title.textContent = album.title;
      description.textContent = album.description || "";
      description.hidden = !album.description;
      document.title = `${album.title} · Gallery`;
    };
    const reorderLabel = h("span", { class: "label", text: "Reorder" });
    const reorder = h("button", { type: "button", class: "btn", "aria-pressed": "false", onclick: async () => {
      const on = !gallery.reordering;
      reorder.setAttribute("aria-pressed", String(on));
      reorderLabel.textContent = on ? "Done" : "Reorder";
      await gallery.setReordering(on);
      if (!on) updateMeta(gallery);
    } }, icon("reorder"), reorderLabel);
    const actions = h("div", { class: "head-actions" },
      h("button", { type: "button", class: "btn", onclick: () => shareDialog({ album_id: id, name: album.title }) }, icon("share"), h("span", { class: "label", text: "Share" })),
      h("button", { type: "button", class: "btn", onclick: () => editAlbumDialog(album, (saved) => { Object.assign(album, saved); render(); }) }, icon("edit"), h("span", { class: "label", text: "Edit" })),
      reorder,
      h("button", { type: "button", class: "btn danger-text", onclick: () => deleteAlbum(album) }, icon("delete"), h("span", { class: "label", text: "Delete album" })));
    const head = h("div", { class: "page-head album-head" },
      h("a", { class: "icon-btn", href: "#/albums", "aria-label": "All albums", title: "All albums" }, icon("prev")),
      h("div", { class: "grow" }, title, description, meta), actions);
    const updateMeta = (g) => {
      const count = g.done ? plural(g.items.length, "photo") : `${g.items.length}+ photos`;
      meta.textContent = `${count} · ${g.reordering ? "Use the arrows, or drag, to reorder" : album.order ? "In your order" : "By date taken"}`;
    };
    let loaded = false;
    const gallery = showGallery("album", head, {
      owner: true, mode: "album", album,
      onChange: updateMeta,
      actions: [
        { label: "Remove from album", icon: "remove", run: (ids) => removeFromAlbum(gallery, ids) },
        { label: "Move to trash", icon: "delete", run: (ids) => trashPhotos(gallery, ids) },
      ],
      fetchPage: async (params) => {
        try {
          const page = await api(`albums/${encodeURIComponent(id)}?${params}`);
          if (!loaded) { loaded = true; for (const k of Object.keys(album)) if (k in page) album[k] = page[k]; render(); }
          return page;
        } catch (error) {
          if (error.status === 404) {
            setView("album", h("div", { class: "empty-inner" }, icon("album", "big"), h("h1", { text: "No such album" }),
              h("p", { text: "It may have been deleted." }), h("a", { class: "btn", href: "#/albums", text: "All albums" })));
          }
          throw error;
        }
      },
      emptyMessage: () => h("div", { class: "empty-inner" }, icon("album-add", "big"), h("h2", { text: "This album is empty" }),
        h("p", { text: "In Photos, select photos with their check marks and choose Add to album." }),
        h("a", { class: "btn primary", href: "#/", text: "Go to Photos" })),
    });
  }

  async function deleteAlbum(album) {
    const sure = await confirmDialog({ title: "Delete this album?", action: "Delete album",
      text: `“${album.title}” will be deleted. Its photos stay in your library.` });
    if (!sure) return;
    try {
      await api(`albums/${encodeURIComponent(album.id)}`, { method: "DELETE" });
      location.hash = "#/albums";
      toast("Album deleted");
    } catch (error) { toast(`Could not delete the album: ${error.message}`, "error"); }
  }

  // ---------------------------------------------------------------------------------------------
  // Share links

  const EXPIRIES = [["1 day", 86400], ["7 days", 7 * 86400], ["30 days", 30 * 86400], ["1 year", 365 * 86400]];

  function shareDialog(target) {
    const expiry = h("select", { name: "expires_in" },
      EXPIRIES.map(([label, seconds]) => h("option", { value: String(seconds), selected: seconds === 7 * 86400, text: label })));
    const password = h("input", { name: "password", type: "password", autocomplete: "new-password", maxlength: "200" });
    const download = h("input", { type: "checkbox", name: "allow_download" });
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "btn primary", text: "Create link" });
    const what = target.album_id ? "this album" : "this photo";
    const form = h("form", { novalidate: true },
      h("p", { text: `Anyone with the link can see ${what} without an account.` }),
      h("label", { class: "field" }, h("span", { text: "Link expires after" }), expiry),
      h("label", { class: "field" }, h("span", { text: "Password (optional)" }), password),
      h("label", { class: "check" }, download, h("span", { text: "Allow downloads of the originals" })),
      error, h("div", { class: "modal-actions" }, cancelButton(() => dialog), submit));
    const dialog = modal(`Share “${target.name || "photo"}”`, form);
    dialog.classList.add("share-dialog");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      const body = { expires_in: Number(expiry.value), allow_download: download.checked };
      if (target.album_id) body.album_id = target.album_id; else body.image_id = target.image_id;
      if (password.value) body.password = password.value;
      try {
        const share = await api("shares", { method: "POST", body });
        showLink(share, Boolean(password.value));
      } catch (err) { error.textContent = err.message; submit.disabled = false; }
    });
    function showLink(share, locked) {
      const url = h("input", { class: "share-url", readonly: true, value: share.url, "aria-label": "Share link", spellcheck: "false" });
      url.addEventListener("focus", () => url.select());
      const copy = h("button", { type: "button", class: "btn primary", onclick: async () => {
        try { await navigator.clipboard.writeText(share.url); toast("Link copied"); }
        catch (_) { url.focus(); url.select(); toast("Press Ctrl+C (⌘C) to copy the selected link"); }
      } }, icon("copy"), "Copy");
      form.replaceChildren(
        h("p", { text: `Anyone with this link can open ${what} until ${formatDate(share.expires_at)}.${locked ? " They will need the password." : ""}${share.allow_download ? " They can download the originals." : ""}` }),
        h("div", { class: "copy-row" }, url, copy),
        h("p", { class: "hint", text: "The link is shown only now. You can revoke it any time under Albums → Shared links." }),
        h("div", { class: "modal-actions" }, h("a", { class: "btn", href: "#/shared", text: "Shared links", onclick: () => dialog.close() }),
          h("button", { type: "button", class: "btn", text: "Done", onclick: () => dialog.close() })));
      url.focus();
    }
  }

  function viewShares() {
    document.title = "Shared links · Gallery";
    const list = h("ul", { class: "share-list", "aria-label": "Shared links" });
    const status = h("div", { class: "grid-status busy", role: "status" });
    setView("shared", h("div", { class: "page-head" }, h("a", { class: "icon-btn", href: "#/albums", "aria-label": "Back to albums", title: "Albums" }, icon("prev")),
      h("div", { class: "grow" }, h("h1", { text: "Shared links" }),
        h("p", { class: "muted", text: "Links you made to albums and photos. Revoke a link and it stops working at once." }))), list, status);
    api("shares").then(({ items }) => {
      status.classList.remove("busy");
      if (!items.length) {
        status.replaceWith(h("div", { class: "empty-inner" }, icon("link", "big"), h("h2", { text: "No shared links" }),
          h("p", { text: "Share an album or a photo to make a link anyone can open." })));
        return;
      }
      list.replaceChildren(...items.map(shareRow));
    }).catch((error) => {
      status.classList.remove("busy");
      status.textContent = `Could not load your links: ${error.message}`;
    });
  }

  function shareRow(share) {
    const name = h("span", { class: "share-name", text: share.album_id ? "Album" : "Photo" });
    const thumb = h("span", { class: "share-thumb", "aria-hidden": "true" }, icon(share.album_id ? "album" : "photos"));
    const facts = [share.album_id ? "Album" : "Photo",
      share.expired ? `Expired ${formatDate(share.expires_at)}` : `Expires ${formatDate(share.expires_at)}`,
      share.has_password ? "Password" : "No password", share.allow_download ? "Downloads allowed" : null].filter(Boolean);
    const revoke = h("button", { type: "button", class: "btn small", text: "Revoke" });
    const row = h("li", { class: `share-row${share.expired ? " expired" : ""}`, "data-id": share.id }, thumb,
      h("div", { class: "share-main" }, name, h("span", { class: "muted share-facts", text: facts.join(" · ") })), revoke);
    const label = (text) => { name.textContent = text; revoke.setAttribute("aria-label", `Revoke the link to ${text}`); };
    label(share.album_id ? "an album" : "a photo");
    const found = share.album_id
      ? api(`albums/${encodeURIComponent(share.album_id)}?limit=1`).then((a) => ({ text: a.title, photo: a.items[0] }))
      : api(`images/${encodeURIComponent(share.image_id)}`).then((p) => ({ text: altText(p), photo: p }));
    found.then(({ text, photo }) => {
      label(text);
      if (photo && photo.urls && photo.urls.thumbnail) thumb.replaceChildren(h("img", { src: photo.urls.thumbnail, alt: "" }));
    }).catch(() => label(share.album_id ? "a deleted album" : "a deleted photo"));
    revoke.addEventListener("click", async () => {
      const sure = await confirmDialog({ title: "Revoke this link?", action: "Revoke",
        text: "Anyone who has it will no longer be able to open it. This can’t be undone." });
      if (!sure) return;
      try {
        await api(`shares/${encodeURIComponent(share.id)}`, { method: "DELETE" });
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        (next ? next.querySelector("button") : $("#main")).focus();
        toast("Link revoked");
      } catch (error) { toast(`Could not revoke: ${error.message}`, "error"); }
    });
    return row;
  }

  /** The page a share link opens (/s/{token}): what it shares, signed out, nothing else. */
  async function viewShare(token, password = null) {
    document.body.classList.add("share-page");
    document.title = "Shared with you · Gallery";
    setView("share", h("div", { class: "grid-status busy", role: "status", text: "Opening the link…" }));
    const headers = password === null ? undefined : { "X-Share-Password": password };
    const content = (params) => rawJson(`shares/${encodeURIComponent(token)}/content?${params}`, { headers });
    let first;
    try {
      first = await content(new URLSearchParams({ limit: String(PAGE_SIZE) }));
    } catch (error) {
      if (error.status === 401) return sharePasswordView(token, password !== null);
      if (error.status === 404) {
        document.title = "Link not found · Gallery";
        return setView("share", h("div", { class: "empty-inner" }, icon("link", "big"),
          h("h1", { text: "This link has expired or does not exist" }),
          h("p", { text: "Ask the person who shared it for a new link." }),
          h("a", { class: "btn", href: "./", text: "Go to Gallery" })));
      }
      return setView("share", h("div", { class: "empty-inner" }, icon("error", "big"), h("h1", { text: "Could not open the link" }),
        h("p", { text: error.message }), h("button", { type: "button", class: "btn", text: "Try again", onclick: () => viewShare(token, password) })));
    }
    const until = `Shared with you · the link works until ${new Date(first.expires_at).toLocaleDateString(undefined, { dateStyle: "medium" })}`;
    if (first.album) {
      document.title = `${first.album.title} · Gallery`;
      const head = h("div", { class: "page-head" }, h("div", { class: "grow" }, h("h1", { text: first.album.title }),
        first.album.description ? h("p", { class: "album-description", text: first.album.description }) : null,
        h("p", { class: "muted", text: until })));
      showGallery("share", head, {
        owner: false, mode: "share",
        fetchPage: (params) => {
          if (first && !params.has("cursor")) { const page = first; first = null; return Promise.resolve(page); }
          return content(params);
        },
        emptyMessage: () => h("div", { class: "empty-inner" }, icon("album", "big"), h("h2", { text: "This album is empty" })),
      });
      return;
    }
    const item = first.items[0];
    const single = { items: [item], done: true, tiles: new Map(), owner: false, mode: "share", album: null,
      update() {}, remove() { return -1; }, loadMore() { return Promise.resolve(); } };
    document.title = `${item.title || "A shared photo"} · Gallery`;
    const img = h("img", { class: "share-img", src: (item.urls && (item.urls.preview || item.urls.thumbnail)) || "", alt: altText(item) });
    const open = h("button", { type: "button", class: "share-open", "aria-label": `View ${altText(item)} full screen`, onclick: () => lightbox.open(single, item.id) },
      placeholder(item, "ph"), img);
    open.style.setProperty("--ar", ratioOf(item).toFixed(4));
    img.addEventListener("load", () => open.classList.add("loaded"), { once: true });
    const download = item.urls && item.urls.download
      ? h("a", { class: "btn primary", href: item.urls.download, download: "" }, icon("download"), "Download original") : null;
    setView("share", h("figure", { class: "share-photo" }, open,
      h("figcaption", {}, h("h1", { text: item.title || "A shared photo" }),
        item.description ? h("p", { class: "album-description", text: item.description }) : null,
        h("p", { class: "muted", text: until }), download)));
  }

  function sharePasswordView(token, wrong) {
    const input = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
    const error = h("p", { class: "form-error", role: "alert", text: wrong ? "That password isn’t right. Try again." : "" });
    const submit = h("button", { type: "submit", class: "btn primary wide", text: "Open" });
    const form = h("form", { class: "auth-form", novalidate: true }, h("label", { class: "field" }, h("span", { text: "Password" }), input), error, submit);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!input.value) { error.textContent = "Enter the password you were given."; input.focus(); return; }
      submit.disabled = true;
      viewShare(token, input.value);
    });
    setView("share", h("div", { class: "auth" }, h("div", { class: "auth-card" }, icon("lock", "big share-lock"),
      h("h1", { text: "This link is protected" }),
      h("p", { class: "muted", text: "Enter the password you were given to see what was shared." }), form)));
    input.focus();
  }

  // ---------------------------------------------------------------------------------------------
  // Photos, search, favourites, trash

  const LIBRARY_ACTIONS = (get) => [
    { label: "Add to album", icon: "album-add", run: (ids) => addToAlbumDialog(ids) },
    { label: "Move to trash", icon: "delete", run: (ids) => trashPhotos(get(), ids) },
  ];

  function searchForm(params = new URLSearchParams()) {
    const q = h("input", { type: "search", name: "q", value: params.get("q") || "", placeholder: "Search your photos",
      "aria-label": "Search your photos", enterkeyhint: "search", autocomplete: "off" });
    const from = h("input", { type: "date", name: "taken_from", value: params.get("taken_from") || "" });
    const to = h("input", { type: "date", name: "taken_to", value: params.get("taken_to") || "" });
    const form = h("form", { class: "search", role: "search" },
      h("div", { class: "search-box" }, icon("search", "muted"), q),
      h("label", { class: "date-field" }, h("span", { text: "Taken from" }), from),
      h("label", { class: "date-field" }, h("span", { text: "to" }), to),
      h("button", { type: "submit", class: "btn primary", text: "Search" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const query = new URLSearchParams();
      if (q.value.trim()) query.set("q", q.value.trim());
      if (from.value) query.set("taken_from", from.value);
      if (to.value) query.set("taken_to", to.value);
      location.hash = [...query.keys()].length ? `#/search?${query}` : "#/";
    });
    return form;
  }

  const favouritesChip = () => h("a", { class: "chip", href: "#/favorites" }, icon("heart"), "Favourites");

  function viewPhotos() {
    document.title = "Photos · Gallery";
    const gallery = showGallery("photos", h("div", { class: "page-head" }, h("h1", { text: "Photos" }), searchForm(), favouritesChip()), {
      owner: true,
      actions: LIBRARY_ACTIONS(() => gallery),
      fetchPage: (params) => api(`images?${params}`),
      emptyMessage: emptyLibrary,
    });
  }

  function viewSearch(query) {
    const words = query.get("q");
    const from = query.get("taken_from"), to = query.get("taken_to");
    const dates = from && to ? `taken ${from} to ${to}` : from ? `taken since ${from}` : to ? `taken until ${to}` : "";
    const what = [words ? `“${words}”` : "", dates].filter(Boolean).join(", ");
    document.title = `Search ${what} · Gallery`;
    const head = h("div", { class: "page-head" },
      h("a", { class: "icon-btn", href: "#/", "aria-label": "Clear search", title: "Clear search" }, icon("close")),
      h("h1", { text: `Results for ${what}` }), searchForm(query));
    const gallery = showGallery("search", head, {
      owner: true,
      actions: LIBRARY_ACTIONS(() => gallery),
      fetchPage: (params) => {
        for (const [k, v] of query) params.set(k, v);
        return api(`images?${params}`);
      },
      emptyMessage: () => h("div", { class: "empty-inner" }, icon("search", "big"), h("h2", { text: "No matching photos" }),
        h("p", { text: "Try other words (titles, descriptions and tags are searched) or a wider date range." })),
    });
  }

  function viewFavorites() {
    document.title = "Favourites · Gallery";
    const head = h("div", { class: "page-head" }, h("h1", { text: "Favourites" }));
    const gallery = showGallery("favorites", head, {
      owner: true,
      actions: LIBRARY_ACTIONS(() => gallery),
      fetchPage: (params) => { params.set("favorite", "true"); return api(`images?${params}`); },
      emptyMessage: () => h("div", { class: "empty-inner" }, icon("heart", "big"), h("h2", { text: "No favourites yet" }),
        h("p", { text: "Tap the heart on a photo to find it here." })),
    });
  }

  function viewTrash() {
    document.title = "Trash · Gallery";
    const empty = h("button", { type: "button", class: "btn danger-text head-end", disabled: true, onclick: () => emptyTrash() }, icon("delete-forever"), "Empty trash");
    const head = h("div", { class: "page-head" },
      h("a", { class: "icon-btn", href: "#/albums", "aria-label": "Back to albums", title: "Albums" }, icon("prev")),
      h("div", { class: "grow" }, h("h1", { text: "Trash" }),
        h("p", { class: "muted", text: "Photos here are deleted for good on the day shown on each. Restore one to keep it." })), empty);
    const gallery = showGallery("trash", head, {
      owner: true, mode: "trash",
      onChange: (g) => { empty.disabled = !g.items.length; },
      actions: [
        { label: "Restore", icon: "restore", run: (ids) => restorePhotos(gallery, ids) },
        { label: "Delete forever", icon: "delete-forever", kind: "danger-text", run: (ids) => deleteForever(gallery, ids) },
      ],
      fetchPage: (params) => api(`trash?${params}`),
      emptyMessage: () => h("div", { class: "empty-inner" }, icon("delete", "big"), h("h2", { text: "Trash is empty" }),
        h("p", { text: "Photos you move to the trash wait here before they are deleted for good." })),
    });
  }

  async function emptyTrash() {
    const sure = await confirmDialog({ title: "Empty the trash?", action: "Empty trash",
      text: "Every photo in the trash will be deleted for good. This can’t be undone." });
    if (!sure) return;
    try {
      const { deleted } = await api("trash", { method: "DELETE" });
      viewTrash();
      toast(`${plural(deleted, "photo")} deleted forever`);
    } catch (error) { toast(`Could not empty the trash: ${error.message}`, "error"); }
  }

  function viewFeed() {
    document.title = "Explore · Gallery";
    showGallery("feed", h("div", { class: "page-head" }, h("h1", { text: "Explore" }), h("p", { class: "muted", text: "The latest public photos from everyone." })), {
      owner: false,
      fetchPage: (params) => rawJson(`feed?${params}`),
      emptyMessage: () => h("div", { class: "empty-inner" }, icon("explore", "big"), h("h2", { text: "Nothing shared yet" }), h("p", { text: "Public photos appear here." })),
    });
  }

  function viewWall(username) {
    document.title = `@${username} · Gallery`;
    const name = h("h1", { text: `@${username}` });
    const bio = h("p", { class: "muted" });
    const head = h("div", { class: "page-head profile" }, h("span", { class: "avatar large", "aria-hidden": "true", text: username.slice(0, 1).toUpperCase() }), h("div", {}, name, bio));
    showGallery("wall", head, {
      owner: false,
      fetchPage: (params) => rawJson(`users/${encodeURIComponent(username)}/images?${params}`),
      emptyMessage: () => h("div", { class: "empty-inner" }, icon("photos", "big"), h("h2", { text: "No public photos" }), h("p", { text: `@${username} hasn’t shared anything yet.` })),
    });
    const own = session.signedIn && session.username === username;
    const showProfile = (profile) => {
      // A display name is shown with the handle beside it; one equal to the username (the default) is not.
      const named = Boolean(profile.display_name) && profile.display_name !== profile.username;
      name.textContent = named ? profile.display_name : `@${profile.username}`;
      if (named) name.append(h("span", { class: "handle", text: ` @${profile.username}` }));
      document.title = `${named ? profile.display_name : "@" + profile.username} · Gallery`;
      const count = `${profile.photo_count ?? 0} public photo${profile.photo_count === 1 ? "" : "s"}`;
      bio.textContent = profile.bio ? `${profile.bio} · ${count}` : count;
    };
    rawJson(`users/${encodeURIComponent(username)}`).then((profile) => {
      showProfile(profile);
      if (own) head.append(h("button", { type: "button", class: "btn edit-profile", onclick: () => editProfile(profile, showProfile), text: "Edit profile" }));
    }).catch((error) => {
      if (error.status === 404) setView("wall", h("div", { class: "empty-inner" }, h("h1", { text: "No such person" }), h("p", { text: `There is no @${username} here.` }), h("a", { class: "btn", href: "#/feed", text: "Explore photos" })));
    });
  }

  /** A dialog to change one's display name and bio, or to delete the account. */
  function editProfile(profile, onSaved) {
    const error = h("p", { class: "form-error", role: "alert" });
    const displayName = h("input", { name: "display_name", maxlength: "100", value: profile.display_name || "" });
    const bioField = h("textarea", { name: "bio", rows: "3", maxlength: "500" });
    bioField.value = profile.bio || "";
    const form = h("form", { novalidate: true },
      h("h2", { id: "profile-title", text: "Edit profile" }),
      h("label", { class: "field" }, h("span", { text: "Display name" }), displayName),
      h("label", { class: "field" }, h("span", { text: "Bio" }), bioField),
      error,
      h("div", { class: "modal-actions" },
        h("button", { type: "button", class: "btn danger-text", id: "delete-account", text: "Delete account" }),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", value: "cancel", onclick: () => dialog.close(), text: "Cancel" }),
        h("button", { type: "submit", class: "btn primary", text: "Save" })));
    const dialog = h("dialog", { class: "modal", "aria-labelledby": "profile-title" }, form);
    dialog.addEventListener("close", () => dialog.remove());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        const saved = await api("users/me", { method: "PUT", body: { display_name: displayName.value.trim(), bio: bioField.value.trim() } });
        onSaved({ ...profile, ...saved });
        dialog.close();
        toast("Profile saved");
      } catch (e) { error.textContent = e.message; }
    });
    $("#delete-account", form).addEventListener("click", async () => {
      dialog.close();
      const sure = await confirmDialog({ title: "Delete your account?", action: "Delete account",
        text: "All your photos, your profile and your public page will be removed for good. This can’t be undone." });
      if (!sure) return;
      try {
        await api("users/me", { method: "DELETE" });
        signOut();
        toast("Your account has been deleted");
      } catch (e) { toast(`Could not delete the account: ${e.message}`, "error"); }
    });
    document.body.append(dialog);
    dialog.showModal();
    displayName.focus();
  }

  function authView(mode) {
    document.title = `${mode === "signup" ? "Create account" : "Sign in"} · Gallery`;
    const signup = mode === "signup";
    const error = h("p", { class: "form-error", role: "alert" });
    const fields = [
      h("label", { class: "field" }, h("span", { text: "Username" }), h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" })),
      signup ? h("label", { class: "field" }, h("span", { text: "Email" }), h("input", { name: "email", type: "email", autocomplete: "email", required: true })) : null,
      h("label", { class: "field" }, h("span", { text: "Password" }), h("input", { name: "password", type: "password", autocomplete: signup ? "new-password" : "current-password", required: true, minlength: signup ? "8" : undefined })),
    ];
    const submit = h("button", { type: "submit", class: "btn primary wide", text: signup ? "Create account" : "Sign in" });
    const form = h("form", { class: "auth-form", novalidate: true }, ...fields, error, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const username = form.username.value.trim();
      const password = form.password.value;
      if (!username || !password || (signup && !form.email.value.trim())) { error.textContent = "Please fill in every field."; return; }
      submit.disabled = true;
      try {
        if (signup) {
          const made = await rawJson("auth/signup", { method: "POST", body: { username, email: form.email.value.trim(), password } });
          if (made.confirmed === false) { confirmView(username, password); return; }
        }
        await signIn(username, password);
        location.hash = "#/";
      } catch (e) {
        error.textContent = e.status === 401 ? "Wrong username or password." : e.status === 409 ? "That username is taken." : e.message;
      } finally {
        submit.disabled = false;
      }
    });
    const other = signup
      ? h("p", { class: "switch-auth" }, "Already have an account? ", h("a", { href: "#/signin", text: "Sign in" }))
      : h("p", { class: "switch-auth" }, "New here? ", h("a", { href: "#/signup", text: "Create an account" }));
    setView(mode, h("div", { class: "auth" }, h("div", { class: "auth-card" },
      h("svg", {}), h("h1", { text: signup ? "Create your account" : "Sign in to Gallery" }),
      h("p", { class: "muted", text: signup ? "Keep your photos in one calm place." : "Welcome back." }), form, other),
      h("p", { class: "auth-aside" }, h("a", { href: "#/feed", text: "Browse public photos without an account →" }))));
    $(".auth-card svg").replaceWith(icon("logo", "logo big"));
    form.username.focus();
  }

  function confirmView(username, password) {
    const error = h("p", { class: "form-error", role: "alert" });
    const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true });
    const form = h("form", { class: "auth-form" }, h("label", { class: "field" }, h("span", { text: "Confirmation code" }), code), error,
      h("button", { type: "submit", class: "btn primary wide", text: "Confirm" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await rawJson("auth/confirm", { method: "POST", body: { username, code: code.value.trim() } });
        await signIn(username, password);
        location.hash = "#/";
      } catch (e) { error.textContent = e.message; }
    });
    setView("confirm", h("div", { class: "auth" }, h("div", { class: "auth-card" }, h("h1", { text: "Check your email" }),
      h("p", { class: "muted", text: `We sent a code to confirm @${username}.` }), form)));
    code.focus();
  }

  function route() {
    const hash = location.hash || "#/";
    if ($("#lightbox").open) $("#lightbox").close();
    for (const open of document.querySelectorAll("dialog.modal[open]")) if (open.id !== "reauth") open.close();
    const share = location.pathname.match(SHARE_PATH);
    if (share) return viewShare(share[1]);
    const wall = hash.match(/^#\/u\/([^/?#]+)/);
    if (wall) return viewWall(decodeURIComponent(wall[1]));
    if (hash.startsWith("#/feed")) return viewFeed();
    if (hash.startsWith("#/signup")) return session.signedIn ? (location.hash = "#/") : authView("signup");
    if (hash.startsWith("#/signin")) return session.signedIn ? (location.hash = "#/") : authView("signin");
    if (!session.signedIn) { location.replace("#/feed"); return viewFeed(); }
    const [path, query = ""] = hash.slice(1).split("?");
    const album = path.match(/^\/albums\/([0-9A-Za-z]+)$/);
    if (album) return viewAlbum(album[1]);
    if (path === "/albums") return viewAlbums();
    if (path === "/favorites") return viewFavorites();
    if (path === "/trash") return viewTrash();
    if (path === "/shared") return viewShares();
    if (path === "/search") return viewSearch(new URLSearchParams(query));
    return viewPhotos();
  }

  function renderChrome() {
    document.body.classList.toggle("signed-in", session.signedIn);
    document.body.classList.toggle("signed-out", !session.signedIn);
    if (session.signedIn) {
      $("#avatar").textContent = session.username.slice(0, 1).toUpperCase();
      $("#my-wall").href = `#/u/${encodeURIComponent(session.username)}`;
      $("#my-wall").setAttribute("aria-label", `Your public page (@${session.username})`);
      $("#my-wall").title = `@${session.username} · your public page`;
    }
  }

  function start() {
    session.load();
    renderChrome();
    setupReauth();
    setupUploads();
    setupLightbox();
    $("#sign-out").addEventListener("click", signOut);
    addEventListener("hashchange", route);
    // Escape leaves selection mode (when no dialog is open to take it).
    addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || document.querySelector("dialog[open]")) return;
      if (current.gallery && current.gallery.selected && current.gallery.selected.size) current.gallery.clearSelection();
    });
    // Another tab signed in or out: follow it.
    addEventListener("storage", (e) => {
      if (e.key !== STORE_KEY) return;
      const was = session.signedIn;
      session.username = session.refreshToken = session.idToken = null;
      session.load();
      renderChrome();
      if (was !== session.signedIn) route();
    });
    route();
  }

  // Exposed for tests and the console: nothing secret, only hooks.
  window.gallery = { uploads, current, session: { get username() { return session.username; } } };
  start();
})();

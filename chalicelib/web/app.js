/* The gallery's browser UI: plain JavaScript, no build step.
 *
 * Every request uses a URL relative to the page, because deployed the app lives under /api/.
 * The id token lives in memory only; the refresh token (and the username) in localStorage, so a
 * session survives a reload. A 401 refreshes once; if that fails, a sign-in dialog opens over the
 * page and every request that was waiting (uploads, edits) carries on once the person signs in.
 */
"use strict";
(function () {
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

  function toast(message, kind = "info") {
    const box = $("#toasts");
    // A modal dialog sits in the top layer: show the message inside it, or it would be hidden.
    const open = [...document.querySelectorAll("dialog[open]")].pop();
    const host = open || document.body;
    if (box.parentElement !== host) host.append(box);
    const item = h("div", { class: `toast ${kind}` }, icon(kind === "error" ? "error" : "check"), h("span", { text: message }));
    box.append(item);
    setTimeout(() => item.classList.add("leaving"), 3800);
    setTimeout(() => item.remove(), 4200);
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

  async function rawJson(path, { method = "GET", body, token } = {}) {
    const headers = { Accept: "application/json" };
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

  class Gallery {
    constructor({ fetchPage, owner, emptyMessage }) {
      this.fetchPage = fetchPage;
      this.owner = owner; // true: the signed-in person's own library (editable)
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
      this.root = h("section", { class: "gallery" }, this.grid, this.empty, this.sentinel, this.status);
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
      this.updateEmpty();
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
        const button = h("button", { type: "button", class: "tile-btn", onclick: () => lightbox.open(this, item.id) },
          placeholder(item), img);
        if (this.owner && item.visibility === "public") button.append(h("span", { class: "badge", title: "Public" }, icon("public"), h("span", { class: "sr-only", text: " (public)" })));
        li.append(button);
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
      if (current.gallery && current.gallery.owner) {
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
        if (current.gallery && current.gallery.owner) {
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
          if (current.gallery && current.gallery.owner) current.gallery.prepend(photo);
        } else {
          const why = photo.reason || photo.error || "could not be processed";
          this.setState(row, "error", `Not added: ${why}`);
          row.thumb.replaceChildren(icon("error"));
          if (row.preview) { URL.revokeObjectURL(row.preview); row.preview = null; }
          if (current.gallery && current.gallery.owner) current.gallery.remove(id);
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
      const download = $("#lb-download");
      download.hidden = !(owner && item.urls && item.urls.download);
      if (!download.hidden) download.href = item.urls.download;
      $("#lb-delete").hidden = !owner;
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
        info.append(h("div", { class: "info-block" }, title, description, saved),
          h("div", { class: "info-block visibility" }, icon(isPublic ? "public" : "lock", "muted"), h("div", {}, toggle, hint)));
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
    $("#lb-delete").addEventListener("click", () => lightbox.item && deletePhoto(lightbox.item.id, { confirm: true }));
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
    const index = gallery ? gallery.items.findIndex((x) => x.id === id) : -1;
    if (gallery) gallery.remove(id);
    if (inLightbox) {
      if (!gallery.items.length) { $("#lightbox").close(); }
      else { lightbox.index = Math.min(index, gallery.items.length - 1); lightbox.show(); $("#lb-close").focus(); }
    }
    toast("Photo deleted");
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
  }

  function emptyLibrary() {
    return h("div", { class: "empty-inner" }, icon("photos", "big"),
      h("h2", { text: "No photos yet" }),
      h("p", { text: "Drag photos anywhere on this page, or choose some from your device." }),
      h("button", { type: "button", class: "btn primary", onclick: () => $("#file-input").click() }, icon("upload"), " Upload photos"));
  }

  function viewPhotos() {
    document.title = "Photos · Gallery";
    showGallery("photos", h("div", { class: "page-head" }, h("h1", { text: "Photos" })), {
      owner: true,
      fetchPage: (params) => api(`images?${params}`),
      emptyMessage: emptyLibrary,
    });
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
      name.textContent = profile.display_name || `@${profile.username}`;
      if (profile.display_name && profile.display_name !== profile.username) name.append(h("span", { class: "handle", text: ` @${profile.username}` }));
      document.title = `${profile.display_name || "@" + profile.username} · Gallery`;
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
    const wall = hash.match(/^#\/u\/([^/?#]+)/);
    if (wall) return viewWall(decodeURIComponent(wall[1]));
    if (hash.startsWith("#/feed")) return viewFeed();
    if (hash.startsWith("#/signup")) return session.signedIn ? (location.hash = "#/") : authView("signup");
    if (hash.startsWith("#/signin")) return session.signedIn ? (location.hash = "#/") : authView("signin");
    if (!session.signedIn) { location.replace("#/feed"); return viewFeed(); }
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

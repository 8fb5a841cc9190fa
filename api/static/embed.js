/*! Replyguard comment widget. One script tag per comment section:
 *
 *   <script src="https://comments.example/embed.js" data-site="demo" data-thread="article-key"
 *     data-thread-url="https://news.example/article" data-thread-title="Headline" async></script>
 *
 * Optional: data-container (CSS selector of the element to render into; by default a new
 * element right before this script), data-lang (else the page's <html lang>), data-page-size.
 * Elements with data-replyguard-count="<thread key>" anywhere on the page get that
 * thread's comment count (one request for all of them). Texts can be overridden or added
 * per language through window.ReplyguardTexts = {"<lang>": {"<key>": "<text>"}}.
 *
 * Everything stays inside a shadow root (the page's styles don't leak in, ours don't leak
 * out); theme it with CSS custom properties on the container (--rg-font, --rg-color,
 * --rg-muted, --rg-accent, --rg-accent-text, --rg-bg, --rg-border, --rg-radius,
 * --rg-error, --rg-notice-bg). Comment text is only ever inserted as text, never as markup.
 * It talks to its own origin only.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script) return;
  const cfg = script.dataset;
  const api = (cfg.api || new URL(script.src).origin).replace(/\/$/, "");
  const site = cfg.site;
  if (!site) return;
  const siteUrl = `${api}/api/v1/sites/${encodeURIComponent(site)}`;

  const TEXTS = {
    en: {
      leaveReply: "Leave a Reply",
      replyTo: "Leave a Reply to {name}",
      cancelReply: "Cancel reply",
      comment: "Comment",
      name: "Name",
      email: "Email",
      website: "Website",
      notes: "Your email address will not be published. Required fields are marked",
      cookies: "Save my name, email, and website in this browser for the next time I comment.",
      post: "Post Comment",
      posting: "Posting…",
      reply: "Reply",
      replyLabel: "Reply to {name}",
      awaiting: "Your comment is awaiting moderation.",
      more: "Load more comments",
      loading: "Loading comments…",
      closed: "Comments are closed.",
      trap: "Leave this field empty",
      count: { zero: "No comments yet", one: "1 Comment", other: "{n} Comments" },
      needComment: "Please type your comment text.",
      needName: "Please enter your name.",
      needEmail: "Please enter your email address.",
      badEmail: "Please enter a valid email address.",
      badWebsite: "Only http:// and https:// addresses are accepted.",
      tooLong: "Longer than {n} characters.",
      commentTooLong: "Your comment is too long ({size} bytes; the limit is {n}).",
      loadFailed: "The comments could not be loaded.",
      postFailed: "Your comment could not be posted. Please try again.",
    },
    ar: {
      leaveReply: "اترك تعليقاً",
      replyTo: "رد على {name}",
      cancelReply: "إلغاء الرد",
      comment: "التعليق",
      name: "الاسم",
      email: "البريد الإلكتروني",
      website: "الموقع الإلكتروني",
      notes: "لن يتم نشر عنوان بريدك الإلكتروني. الحقول الإلزامية مشار إليها بـ",
      cookies: "احفظ اسمي، بريدي الإلكتروني، والموقع الإلكتروني في هذا المتصفح لاستخدامها المرة المقبلة في تعليقي.",
      post: "إرسال التعليق",
      posting: "جارٍ الإرسال…",
      reply: "رد",
      replyLabel: "الرد على {name}",
      awaiting: "تعليقك بانتظار المراجعة.",
      more: "عرض المزيد من التعليقات",
      loading: "جارٍ تحميل التعليقات…",
      closed: "التعليقات مغلقة.",
      trap: "اترك هذا الحقل فارغاً",
      count: {
        zero: "لا توجد تعليقات",
        one: "تعليق واحد",
        two: "تعليقان",
        few: "{n} تعليقات",
        many: "{n} تعليقًا",
        other: "{n} تعليق",
      },
      needComment: "يرجى كتابة نص التعليق.",
      needName: "يرجى إدخال اسمك.",
      needEmail: "يرجى إدخال بريدك الإلكتروني.",
      badEmail: "يرجى إدخال بريد إلكتروني صالح.",
      badWebsite: "تُقبل فقط العناوين التي تبدأ بـ http:// أو https://.",
      tooLong: "أطول من {n} حرفاً.",
      commentTooLong: "تعليقك طويل جداً ({size} بايت؛ الحد الأقصى {n}).",
      loadFailed: "تعذّر تحميل التعليقات.",
      postFailed: "تعذّر إرسال تعليقك. يرجى المحاولة مرة أخرى.",
    },
  };
  const RTL = new Set(["ar", "he", "fa", "ur", "yi", "ps", "ckb", "dv"]);
  const extra = window.ReplyguardTexts || {};
  const wanted = (cfg.lang || document.documentElement.lang || "en").toLowerCase();
  const primary = wanted.split("-")[0];
  const lang = TEXTS[wanted] || extra[wanted] ? wanted : TEXTS[primary] || extra[primary] ? primary : "en";
  const T = { ...TEXTS.en, ...(TEXTS[lang] || {}), ...(extra[lang] || {}) };
  const dir = RTL.has(lang.split("-")[0]) ? "rtl" : "ltr";

  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const plural = new Intl.PluralRules(lang);
  const countText = (n) => {
    const forms = T.count;
    const form = n === 0 && forms.zero ? "zero" : plural.select(n);
    return fmt(forms[form] || forms.other, { n: n.toLocaleString(lang) });
  };
  const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" });

  // Fill every [data-replyguard-count] on the page with one request (once per page and site).
  const countKey = `__replyguardCounts:${api}:${site}`;
  const fillCounts = () => {
    if (window[countKey]) return;
    window[countKey] = true;
    const nodes = [...document.querySelectorAll("[data-replyguard-count]")];
    const keys = [...new Set(nodes.map((n) => n.dataset.replyguardCount).filter(Boolean))];
    if (!keys.length) return;
    const query = keys.slice(0, 100).map((k) => `thread=${encodeURIComponent(k)}`).join("&");
    fetch(`${siteUrl}/counts?${query}`, { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        if (!body) return;
        for (const node of nodes) {
          const n = body.counts[node.dataset.replyguardCount];
          if (typeof n === "number") node.textContent = countText(n);
        }
      })
      .catch(() => {});
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fillCounts);
  else fillCounts();

  const thread = cfg.thread;
  if (!thread) return; // a page that only shows counts

  const CSS = `
:host{display:block}
[hidden]{display:none!important}
.rg{font:var(--rg-font,inherit);color:var(--rg-color,inherit);background:var(--rg-bg,transparent);line-height:1.5}
.rg *{box-sizing:border-box}
h2,h3{font-size:1.25em;margin:1.2em 0 .5em}
ol{list-style:none;margin:0;padding:0}
.replies{padding-inline-start:1.5em;border-inline-start:2px solid var(--rg-border,#e3e3e3)}
.comment{margin:1em 0}
.comment:focus{outline:none}
.meta{color:var(--rg-muted,#666);font-size:.85em;display:flex;flex-wrap:wrap;gap:.4em;align-items:baseline}
.author{font-weight:600;color:inherit;unicode-bidi:isolate}
a{color:var(--rg-accent,#1a5fb4)}
.body{overflow-wrap:anywhere}
.body p{margin:.3em 0}
.pending{opacity:.85}
.awaiting{font-style:italic;color:var(--rg-muted,#666);font-size:.9em;margin:.2em 0}
button{font:inherit;cursor:pointer}
.reply-head{display:flex;flex-wrap:wrap;gap:.6em;align-items:baseline}
.reply,.cancel{background:none;border:0;padding:0;color:var(--rg-accent,#1a5fb4);font-size:.85em;text-decoration:underline}
.submit,.more{background:var(--rg-accent,#1a5fb4);color:var(--rg-accent-text,#fff);border:0;border-radius:var(--rg-radius,4px);padding:.55em 1.1em}
.submit[disabled]{opacity:.6;cursor:progress}
.more{display:block;margin:1em 0}
label{display:block;font-weight:600;font-size:.9em;margin-bottom:.2em}
.check label{display:inline;font-weight:400}
input[type=text],input[type=email],input[type=url],textarea{width:100%;padding:.45em;font:inherit;color:inherit;background:var(--rg-bg,#fff);border:1px solid var(--rg-border,#bbb);border-radius:var(--rg-radius,4px)}
textarea{min-height:8em;resize:vertical}
[aria-invalid=true]{border-color:var(--rg-error,#c62828)}
:focus-visible{outline:3px solid var(--rg-accent,#1a5fb4);outline-offset:2px}
.field{margin:.7em 0}
.required,.error{color:var(--rg-error,#c62828)}
.error{font-size:.85em;margin:.2em 0 0}
.alert{background:var(--rg-notice-bg,#fdecea);border-inline-start:4px solid var(--rg-error,#c62828);padding:.5em .8em}
.notes{color:var(--rg-muted,#666);font-size:.85em}
.hp{position:absolute;inset-inline-start:-10000px;width:1px;height:1px;overflow:hidden}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`;

  // -- tiny DOM helpers: text always goes in as text ----------------------------------------
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v == null) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  };
  const bodyNodes = (text) => {
    // As core.rendering.comment_html: paragraphs on blank lines, <br> on single newlines.
    const clean = text.replace(/\r\n?/g, "\n").trim();
    if (!clean) return [];
    return clean.split(/\n\s*\n/).map((para) => {
      const p = el("p");
      para.split("\n").forEach((line, i) => {
        if (i) p.append(el("br"));
        p.append(line);
      });
      return p;
    });
  };
  const safeUrl = (url) => (url && /^https?:\/\//i.test(url) ? url : null);

  // -- state -----------------------------------------------------------------------------------
  const host = (cfg.container && document.querySelector(cfg.container)) || el("div");
  if (!host.isConnected) script.before(host);
  host.replaceChildren(); // the no-JavaScript fallback inside it, if any, is replaced
  const root = host.shadowRoot || host.attachShadow({ mode: "open" });
  const pendingKey = `replyguard:pending:${api}:${site}:${thread}`;
  const storeKey = `replyguard:commenter:${api}`;
  const pageSize = Math.max(1, Math.min(1000, parseInt(cfg.pageSize, 10) || 50));
  const maxDepth = 5;
  let total = 0;
  let nextUrl = null;
  let formToken = null;
  let replyParent = null; // {id, button}
  let closed = false;
  const seen = new Set();

  const ui = el("div", { class: "rg", dir, lang });
  const heading = el("h2", { class: "count", text: T.loading });
  const list = el("ol", { class: "comments" });
  const more = el("button", { type: "button", class: "more", text: T.more, hidden: true });
  const loadError = el("p", { class: "alert", role: "alert", hidden: true });
  const live = el("p", { class: "sr", "aria-live": "polite" });
  ui.append(heading, loadError, list, more, live);

  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
    // Constructed style sheets also work under a page's strict style-src policy.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el("style", { text: CSS }));
  }
  root.replaceChildren(...(root.querySelector("style") ? [root.querySelector("style")] : []), ui);

  // -- comments ----------------------------------------------------------------------------------
  const renderComment = (c, depth, pending) => {
    const li = el("li", { class: pending ? "comment pending" : "comment", id: `comment-${c.id}`, tabindex: "-1" });
    const website = safeUrl(c.website);
    const author = website
      ? el("a", { class: "author", href: website, rel: "external nofollow ugc noopener", text: c.author_name })
      : el("span", { class: "author", text: c.author_name });
    const when = new Date(c.submitted_at);
    const meta = el(
      "div",
      { class: "meta" },
      author,
      el("time", { datetime: c.submitted_at, text: isNaN(when) ? "" : dateFormat.format(when) })
    );
    const article = el("article", {}, meta, el("div", { class: "body" }, ...bodyNodes(c.body)));
    li.append(article);
    if (pending) article.append(el("p", { class: "awaiting" }, el("em", { text: T.awaiting })));
    else if (depth < maxDepth && !closed) {
      const button = el("button", {
        type: "button",
        class: "reply",
        text: T.reply,
        "aria-label": fmt(T.replyLabel, { name: c.author_name }),
        "data-id": String(c.id),
      });
      article.append(button);
    }
    const replies = el("ol", { class: "replies" });
    for (const r of c.replies || []) replies.append(renderComment(r, depth + 1, false));
    li.append(replies);
    li.dataset.depth = String(depth);
    seen.add(c.id);
    return li;
  };

  const showCount = () => {
    heading.textContent = countText(total);
  };

  const loadPage = async (url, first) => {
    loadError.hidden = true;
    try {
      const response = await fetch(url, { credentials: "omit" });
      if (!response.ok) throw new Error(String(response.status));
      const page = await response.json();
      closed = !!(page.thread && page.thread.closed);
      total = page.total;
      nextUrl = page.next;
      performance.mark("replyguard:render-start");
      const items = document.createDocumentFragment();
      const fresh = page.comments.filter((c) => !seen.has(c.id));
      for (const c of fresh) items.append(renderComment(c, 1, false));
      list.append(items);
      void list.offsetHeight; // include style and layout in the measure
      performance.measure("replyguard:render", "replyguard:render-start");
      showCount();
      more.hidden = !nextUrl;
      if (first) {
        restorePending();
        if (closed) form.replaceWith(el("p", { class: "closed", text: T.closed }));
      } else if (fresh.length) list.querySelector(`#comment-${fresh[0].id}`).focus();
    } catch (error) {
      if (first) heading.textContent = "";
      loadError.textContent = T.loadFailed;
      loadError.hidden = false;
    }
  };

  more.addEventListener("click", () => nextUrl && loadPage(nextUrl, false));

  // -- the form ----------------------------------------------------------------------------------
  const ids = { comment: "rg-comment", name: "rg-author", email: "rg-email", website: "rg-url" };
  const field = (key, label, control, required) => {
    const error = el("p", { class: "error", id: `${ids[key]}-error`, hidden: true });
    control.setAttribute("aria-describedby", error.id);
    const labelNode = el("label", { for: ids[key], text: label });
    if (required) labelNode.append(" ", el("span", { class: "required", "aria-hidden": "true", text: "*" }));
    return el("p", { class: `field comment-form-${key}` }, labelNode, control, error);
  };
  const controls = {
    comment: el("textarea", { id: ids.comment, name: "comment", required: true, maxlength: "65525" }),
    name: el("input", { id: ids.name, name: "author", type: "text", required: true, maxlength: "245", autocomplete: "name" }),
    email: el("input", { id: ids.email, name: "email", type: "email", required: true, maxlength: "100", autocomplete: "email" }),
    website: el("input", { id: ids.website, name: "url", type: "url", maxlength: "200", autocomplete: "url" }),
  };
  const remember = el("input", { id: "rg-cookies", type: "checkbox", name: "cookies" });
  const trap = el("input", { type: "text", name: "rg_hp", tabindex: "-1", autocomplete: "off" });
  const submit = el("button", { type: "submit", class: "submit", text: T.post });
  const formError = el("p", { class: "alert", role: "alert", hidden: true });
  const title = el("h3", { id: "rg-reply-title", text: T.leaveReply });
  const cancel = el("button", { type: "button", class: "cancel", text: T.cancelReply, hidden: true });
  const form = el(
    "form",
    { class: "comment-form", novalidate: true, "aria-labelledby": "rg-reply-title" },
    el("p", { class: "notes" }, T.notes + " ", el("span", { class: "required", text: "*" })),
    field("comment", T.comment, controls.comment, true),
    field("name", T.name, controls.name, true),
    field("email", T.email, controls.email, true),
    field("website", T.website, controls.website, false),
    el("p", { class: "field check" }, remember, " ", el("label", { for: "rg-cookies", text: T.cookies })),
    el("div", { class: "hp", "aria-hidden": "true" }, el("label", { text: T.trap }, trap)),
    formError,
    el("p", { class: "form-submit" }, submit)
  );
  const respond = el("section", { class: "respond" }, el("div", { class: "reply-head" }, title, cancel), form);
  ui.append(respond);

  try {
    const saved = JSON.parse(localStorage.getItem(storeKey) || "null");
    if (saved) {
      controls.name.value = saved.name || "";
      controls.email.value = saved.email || "";
      controls.website.value = saved.website || "";
      remember.checked = true;
    }
  } catch (error) {
    /* storage blocked or malformed: start empty */
  }

  const fetchToken = () =>
    fetch(`${siteUrl}/form-token?thread=${encodeURIComponent(thread)}`, { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        formToken = body && body.token;
      })
      .catch(() => {
        formToken = null;
      });

  const setError = (key, message) => {
    const control = controls[key];
    const error = root.getElementById(`${ids[key]}-error`);
    error.textContent = message || "";
    error.hidden = !message;
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  };
  const clearErrors = () => {
    for (const key of Object.keys(controls)) setError(key, "");
    formError.hidden = true;
  };

  const normaliseWebsite = (value) =>
    value && !value.includes("://") && !value.startsWith("//") && !value.split("/")[0].includes(":")
      ? `http://${value}`
      : value;

  // The server's checks, repeated so a reader learns at once (the server still decides).
  const check = (data) => {
    const errors = {};
    const bytes = new TextEncoder().encode(data.comment).length;
    if (!data.comment) errors.comment = T.needComment;
    else if (bytes > 65525) errors.comment = fmt(T.commentTooLong, { size: bytes.toLocaleString(lang), n: (65525).toLocaleString(lang) });
    if (!data.name) errors.name = T.needName;
    else if (data.name.length > 245) errors.name = fmt(T.tooLong, { n: 245 });
    if (!data.email) errors.email = T.needEmail;
    else if (data.email.length > 100) errors.email = fmt(T.tooLong, { n: 100 });
    else if (!/^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/.test(data.email)) errors.email = T.badEmail;
    if (data.website) {
      if (data.website.length > 200) errors.website = fmt(T.tooLong, { n: 200 });
      else if (!safeUrl(normaliseWebsite(data.website))) errors.website = T.badWebsite;
    }
    return errors;
  };

  const showErrors = (errors) => {
    let first = null;
    for (const key of Object.keys(controls)) {
      const message = errors[key] && [].concat(errors[key]).join(" ");
      setError(key, message);
      if (message && !first) first = controls[key];
    }
    const other = Object.entries(errors)
      .filter(([key]) => !(key in controls))
      .map(([, messages]) => [].concat(messages).join(" "));
    if (other.length) {
      formError.textContent = other.join(" ");
      formError.hidden = false;
    }
    (first || formError).focus();
  };

  const moveForm = (target) => {
    target.after(respond);
  };
  const startReply = (button) => {
    const li = button.closest("li.comment");
    replyParent = { id: Number(button.dataset.id), button };
    const name = li.querySelector(".author").textContent;
    title.textContent = fmt(T.replyTo, { name });
    cancel.hidden = false;
    moveForm(li.querySelector("article"));
    controls.comment.focus();
  };
  const endReply = (focusBack) => {
    const button = replyParent && replyParent.button;
    replyParent = null;
    title.textContent = T.leaveReply;
    cancel.hidden = true;
    ui.append(respond);
    if (focusBack && button && button.isConnected) button.focus();
  };
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button.reply");
    if (button) startReply(button);
  });
  cancel.addEventListener("click", () => endReply(true));
  respond.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && replyParent) endReply(true);
  });

  // -- the reader's own comments awaiting moderation -------------------------------------------
  const loadPending = () => {
    try {
      return JSON.parse(sessionStorage.getItem(pendingKey) || "[]");
    } catch (error) {
      return [];
    }
  };
  const savePending = (items) => {
    try {
      if (items.length) sessionStorage.setItem(pendingKey, JSON.stringify(items));
      else sessionStorage.removeItem(pendingKey);
    } catch (error) {
      /* storage blocked: the notice just won't survive a reload */
    }
  };
  const forgetPending = (id) => savePending(loadPending().filter((p) => p.id !== id));

  const placePending = (item) => {
    const li = renderComment(item, 1, true);
    const parent = item.parent && root.getElementById(`comment-${item.parent}`);
    (parent ? parent.querySelector(":scope > ol.replies") : list).append(li);
    return li;
  };

  const watch = (item, li, attempt = 0) => {
    // Moderation usually takes a moment; a held comment may wait for a human for a while.
    const delay = Math.min(30000, 1000 * 1.6 ** attempt);
    if (attempt > 60) return;
    setTimeout(async () => {
      let status = "pending";
      try {
        const response = await fetch(item.status_url, { credentials: "omit" });
        if (response.ok) status = (await response.json()).status;
      } catch (error) {
        /* offline for a moment: try again later */
      }
      if (status === "approved") {
        li.classList.remove("pending");
        li.querySelector(".awaiting")?.remove();
        total += 1;
        showCount();
        forgetPending(item.id);
      } else if (status === "rejected" || status === "spam" || status === "deleted") {
        li.remove();
        forgetPending(item.id);
      } else watch(item, li, attempt + 1);
    }, delay);
  };

  const restorePending = () => {
    for (const item of loadPending()) {
      if (seen.has(item.id)) forgetPending(item.id); // approved meanwhile: already listed
      else watch(item, placePending(item));
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    if (trap.value) return; // only bots see it; stay silent
    const data = {
      comment: controls.comment.value.trim(),
      name: controls.name.value.trim(),
      email: controls.email.value.trim(),
      website: controls.website.value.trim(),
    };
    const errors = check(data);
    if (Object.keys(errors).length) return showErrors(errors);
    const payload = {
      thread,
      thread_url: cfg.threadUrl || location.href.split("#")[0],
      thread_title: cfg.threadTitle || document.title,
      comment: data.comment,
      name: data.name,
      email: data.email,
    };
    if (data.website) payload.website = normaliseWebsite(data.website);
    if (replyParent) payload.parent = replyParent.id;
    if (formToken) payload.form_token = formToken;
    submit.disabled = true;
    submit.textContent = T.posting;
    try {
      const response = await fetch(`${siteUrl}/comments`, {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 422 && body.fields) return showErrors(body.fields);
      if (!response.ok) {
        formError.textContent = body.message || T.postFailed;
        formError.hidden = false;
        return formError.focus();
      }
      try {
        if (remember.checked) {
          localStorage.setItem(storeKey, JSON.stringify({ name: data.name, email: data.email, website: data.website }));
        } else localStorage.removeItem(storeKey);
      } catch (error) {
        /* storage blocked */
      }
      const item = {
        id: body.id,
        status_url: body.status_url,
        parent: payload.parent || null,
        author_name: data.name,
        website: payload.website || null,
        body: data.comment,
        submitted_at: body.submitted_at,
      };
      savePending([...loadPending(), item]);
      controls.comment.value = "";
      endReply(false);
      const li = placePending(item);
      live.textContent = T.awaiting;
      li.focus();
      watch(item, li);
      fetchToken(); // a fresh form token for the next comment
    } catch (error) {
      formError.textContent = T.postFailed;
      formError.hidden = false;
      formError.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = T.post;
    }
  });
  formError.tabIndex = -1;

  fetchToken();
  loadPage(`${siteUrl}/threads/${encodeURIComponent(thread)}/comments?limit=${pageSize}`, true);
})();

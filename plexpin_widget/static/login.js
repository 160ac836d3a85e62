// The Plex sign-in box for anywidget hosts (marimo). Hand-written, no build step, no imports.
// Every value from the kernel is a display value and goes into the page through textContent
// (never innerHTML); links and images are set only when they have the expected form.

const KEYS = [
  "product", "status", "live", "code", "strong", "auth_url", "link_label", "qr",
  "seconds_left", "lifetime", "expiring", "status_text", "error", "signed_in_as",
  "notice", "busy_note", "can_cancel", "can_restart", "can_retry_now", "can_sign_out", "can_remember",
  "remember",
];

function part(parent, tag, name) {
  const node = document.createElement(tag);
  if (name) node.className = `plexpin-${name}`;
  parent.appendChild(node);
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

function webLink(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : "";
  } catch (_error) {
    return "";
  }
}

function clock(seconds) {
  const s = Math.max(0, seconds | 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render({ model, el }) {
  const root = part(el, "div", "login");
  const title = part(root, "div", "title");
  const heading = part(title, "b");
  heading.textContent = "Sign in to Plex";
  const product = part(title, "span", "product");

  const body = part(root, "div", "body");
  const qr = part(body, "img", "qr");
  qr.alt = "QR code for the sign-in page";
  qr.width = 180;
  qr.height = 180;
  const side = part(body, "div", "side");
  const code = part(side, "div", "code");
  const link = part(side, "a", "link");
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  // A drawn bar, not <progress>: host style resets (marimo's among them) flatten that one.
  const progress = part(side, "div", "progress");
  progress.setAttribute("role", "progressbar");
  progress.setAttribute("aria-valuemin", "0");
  const fill = part(progress, "div", "progress-fill");
  const status = part(side, "div", "status");
  const error = part(side, "div", "error");
  const buttons = part(side, "div", "buttons");
  const retry = part(buttons, "button", "retry");
  retry.type = "button";
  retry.textContent = "Try again now";
  const cancel = part(buttons, "button", "cancel");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  const restart = part(buttons, "button", "restart");
  restart.type = "button";
  restart.textContent = "Get a new code";
  const busy = part(side, "small", "busy");

  const signedIn = part(root, "div", "signed-in");
  const signedInText = part(signedIn, "span");
  signedInText.textContent = "✅ Signed in as ";
  const who = part(signedIn, "b", "user");

  const footer = part(root, "div", "footer");
  const rememberLabel = part(footer, "label", "remember");
  const rememberBox = part(rememberLabel, "input");
  rememberBox.type = "checkbox";
  part(rememberLabel, "span").textContent = "Remember me on this computer";
  const signOut = part(footer, "button", "signout");
  signOut.type = "button";
  signOut.textContent = "Sign out";
  const notice = part(root, "div", "notice");

  retry.addEventListener("click", () => model.send({ action: "retry_now" }));
  cancel.addEventListener("click", () => model.send({ action: "cancel" }));
  restart.addEventListener("click", () => model.send({ action: "restart" }));
  signOut.addEventListener("click", () => model.send({ action: "sign_out" }));
  rememberBox.addEventListener("change", () =>
    model.send({ action: "remember", value: rememberBox.checked }),
  );

  function update() {
    const get = (key) => model.get(key);
    const live = Boolean(get("live"));
    product.textContent = get("product") ? ` — ${get("product")}` : "";
    root.dataset.status = String(get("status") || "");
    code.textContent = live ? String(get("code") || "") : "";
    code.classList.toggle("plexpin-code-strong", Boolean(get("strong")));
    const href = live ? webLink(String(get("auth_url") || "")) : "";
    if (href) {
      link.href = href;
      link.textContent = `Open ${get("link_label") || href} ↗`;
    } else {
      link.removeAttribute("href");
      link.textContent = "";
    }
    const src = String(get("qr") || "");
    if (live && src.startsWith("data:image/png;base64,")) {
      if (qr.getAttribute("src") !== src) qr.src = src;
    } else {
      qr.removeAttribute("src");
    }
    const lifetime = Math.max(1, get("lifetime") | 0);
    const left = live ? Math.max(0, Math.min(lifetime, get("seconds_left") | 0)) : 0;
    progress.setAttribute("aria-valuemax", String(lifetime));
    progress.setAttribute("aria-valuenow", String(left));
    progress.title = `${clock(left)} left`;
    fill.style.width = `${(100 * left) / lifetime}%`;
    progress.classList.toggle("plexpin-expiring", Boolean(get("expiring")));
    status.textContent = String(get("status_text") || "");
    error.textContent = String(get("error") || "");
    who.textContent = String(get("signed_in_as") || "");
    rememberBox.checked = Boolean(get("remember"));
    notice.textContent = String(get("notice") || "");
    busy.textContent = String(get("busy_note") || "");

    show(body, !get("signed_in_as"));
    show(qr, live);
    show(code, live);
    show(link, live && Boolean(href));
    show(progress, live);
    show(status, Boolean(get("status_text")));
    show(error, Boolean(get("error")));
    show(retry, Boolean(get("can_retry_now")));
    show(cancel, Boolean(get("can_cancel")));
    show(restart, Boolean(get("can_restart")));
    show(signedIn, Boolean(get("signed_in_as")));
    show(signOut, Boolean(get("can_sign_out")));
    show(rememberLabel, Boolean(get("can_remember")));
    show(notice, Boolean(get("notice")));
    show(busy, Boolean(get("busy_note")));
  }

  const events = KEYS.map((key) => `change:${key}`);
  for (const event of events) model.on(event, update);
  update();
  return () => {
    for (const event of events) model.off(event, update);
  };
}

export default { render };

// Client-side store of the open conversation's messages and the sidebar rows.
//
// Why: Reflex re-sends a changed list var whole, so a plain `messages: list[...]` var would make
// every new message cost O(messages loaded) bytes per recipient. Instead the server sends small
// "ops" in ChatState.feed (usually one new message), and this store merges them by id. A new
// message costs O(1) on the wire no matter how much history is loaded.
import { useEffect, useSyncExternalStore } from "react";

const listeners = new Set();
const state = {
  conv: 0, // id of the conversation whose messages are loaded
  msgs: [], // oldest first, each annotated with labels for rendering
  hasMore: false,
  convs: [], // sidebar rows, most recent activity first
  pill: false, // "new messages" pill (scrolled up when something arrived)
  lastSeq: 0,
  uploads: { chat: null, avatar: null }, // images being attached, see pickImage()
};
let snapshot = { ...state };

function publish() {
  snapshot = { ...state, active: state.convs.find((c) => c.id === state.conv) || null };
  listeners.forEach((l) => l());
}

function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(ms) {
  const d = new Date(ms);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return "Today";
  if (dayKey(d) === dayKey(yesterday)) return "Yesterday";
  return dateFmt.format(d);
}

function shortWhen(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return dayKey(d) === dayKey(new Date()) ? timeFmt.format(d) : shortDateFmt.format(d);
}

export function lastSeenLabel(ms) {
  if (!ms) return "offline";
  const mins = Math.round((Date.now() - ms) / 60000);
  if (mins < 1) return "last seen just now";
  if (mins < 60) return `last seen ${mins} min ago`;
  const d = new Date(ms);
  if (dayKey(d) === dayKey(new Date())) return `last seen today at ${timeFmt.format(d)}`;
  return `last seen ${dayLabel(ms).toLowerCase() === "yesterday" ? "yesterday" : dateFmt.format(d)} at ${timeFmt.format(d)}`;
}

// Order: stored messages by id, then pending/failed ones in the order they were typed.
function sortKey(m) {
  return m.id ? m.id : Number.MAX_SAFE_INTEGER;
}

function annotate(msgs) {
  let prevDay = null;
  let prevSender = null;
  return msgs.map((m) => {
    const day = dayKey(new Date(m.at));
    const firstOfDay = day !== prevDay;
    const firstOfGroup = firstOfDay || m.sender !== prevSender;
    prevDay = day;
    prevSender = m.sender;
    return {
      ...m,
      time: timeFmt.format(new Date(m.at)),
      day_label: firstOfDay ? dayLabel(m.at) : "",
      first_of_group: firstOfGroup,
      key: m.id ? `m${m.id}` : `c${m.cid}`,
    };
  });
}

function upsertMsg(list, item) {
  // Same stored message, or my pending message (its client id) being confirmed.
  const i = list.findIndex(
    (m) => (item.id && m.id === item.id) || (item.cid && m.cid === item.cid && !!m.mine === !!item.mine),
  );
  const out = list.slice();
  if (i >= 0) {
    // A stored message never goes back to pending.
    if (out[i].id && !item.id) return list;
    out[i] = { ...out[i], ...item };
  } else {
    out.push(item);
  }
  out.sort((a, b) => sortKey(a) - sortKey(b) || a.at - b.at);
  return out;
}

function convRow(row) {
  return {
    ...row,
    when: shortWhen(row.last_at),
    seen_label: row.online ? "online" : lastSeenLabel(row.last_seen),
  };
}

function sortConvs(list) {
  return list.slice().sort((a, b) => (b.last_id || 0) - (a.last_id || 0) || b.id - a.id);
}

function scroller() {
  return document.getElementById("message-scroller");
}

function nearBottom(el) {
  return !el || el.scrollHeight - el.scrollTop - el.clientHeight < 80;
}

function applyOp(op, effects) {
  switch (op.t) {
    case "msgs_reset": {
      // Keep this tab's unsent (pending/failed) messages of the same conversation.
      const stored = new Set(op.items.map((m) => m.cid));
      const unsent = op.conv === state.conv ? state.msgs.filter((m) => !m.id && !stored.has(m.cid)) : [];
      state.conv = op.conv;
      state.msgs = annotate([...op.items, ...unsent]);
      state.hasMore = op.has_more;
      state.pill = false;
      effects.bottom = true;
      break;
    }
    case "msgs_older": {
      if (op.conv !== state.conv) break;
      const known = new Set(state.msgs.map((m) => m.id));
      const older = op.items.filter((m) => !known.has(m.id));
      state.msgs = annotate([...older, ...state.msgs]);
      state.hasMore = op.has_more;
      effects.keep = true;
      break;
    }
    case "msg": {
      if (op.item.conv !== state.conv) break;
      state.msgs = annotate(upsertMsg(state.msgs, op.item));
      effects.arrived = effects.arrived || !op.item.mine;
      effects.mine = effects.mine || op.item.mine;
      break;
    }
    case "msg_drop":
      state.msgs = annotate(state.msgs.filter((m) => !(m.cid === op.cid && !m.id)));
      break;
    case "msg_failed": {
      state.msgs = state.msgs.map((m) => (m.cid === op.cid && !m.id ? { ...m, status: "failed", error: op.error } : m));
      break;
    }
    case "convs_reset":
      state.convs = sortConvs(op.items.map(convRow));
      break;
    case "conv": {
      const i = state.convs.findIndex((c) => c.id === op.item.id);
      const prev = i >= 0 ? state.convs[i] : {};
      const unread = op.item.unread !== undefined ? op.item.unread : (prev.unread || 0) + (op.unread_inc || 0);
      const row = convRow({ ...prev, ...op.item, unread });
      const rest = state.convs.filter((c) => c.id !== op.item.id);
      state.convs = sortConvs([row, ...rest]);
      break;
    }
    case "read":
      state.convs = state.convs.map((c) => (c.id === op.conv ? { ...c, unread: 0 } : c));
      break;
    case "presence":
      state.convs = state.convs.map((c) =>
        c.peer_id === op.user ? convRow({ ...c, online: op.online, last_seen: op.last_seen || c.last_seen }) : c,
      );
      break;
    case "upload_sent":
      if (state.uploads[op.purpose] && state.uploads[op.purpose].id === op.id) setUpload(op.purpose, null);
      break;
    case "person":
      state.convs = state.convs.map((c) =>
        c.peer_id === op.user ? convRow({ ...c, ...op.fields, title: op.fields.title || c.title }) : c,
      );
      break;
    default:
      break;
  }
}

export function applyFeed(raw) {
  let feed = raw;
  if (typeof raw === "string") {
    if (!raw) return;
    try {
      feed = JSON.parse(raw);
    } catch (err) {
      return;
    }
  }
  if (!feed || !feed.seq) return;
  if (feed.epoch !== state.epoch) {
    // A new server-side state (first load, or the server restarted): accept its numbering.
    state.epoch = feed.epoch;
    state.lastSeq = 0;
  }
  if (feed.seq <= state.lastSeq) return; // already applied (e.g. re-sent on rehydrate)
  state.lastSeq = feed.seq;
  const el = scroller();
  const wasAtBottom = nearBottom(el);
  const prevHeight = el ? el.scrollHeight : 0;
  const prevTop = el ? el.scrollTop : 0;
  const effects = {};
  for (const op of feed.ops || []) applyOp(op, effects);
  if (effects.arrived && !wasAtBottom && !effects.bottom) state.pill = true;
  publish();
  requestAnimationFrame(() => {
    const s = scroller();
    if (!s) return;
    if (!s.dataset.listening) {
      s.dataset.listening = "1";
      s.addEventListener("scroll", onMessagesScroll, { passive: true });
    }
    if (effects.keep) {
      s.scrollTop = prevTop + (s.scrollHeight - prevHeight);
    } else if (effects.bottom || effects.mine || (effects.arrived && wasAtBottom)) {
      s.scrollTop = s.scrollHeight;
    }
  });
}

export function resetFeedSeq() {
  state.lastSeq = 0;
}

export function scrollToNewest() {
  const s = scroller();
  if (s) s.scrollTo({ top: s.scrollHeight, behavior: "smooth" });
  state.pill = false;
  publish();
}

// Scroll listener: clear the pill at the bottom; ask for older messages at the top.
export function onMessagesScroll(e) {
  const el = e.target;
  if (state.pill && nearBottom(el)) {
    state.pill = false;
    publish();
  }
  if (el.scrollTop < 40 && state.hasMore) {
    const btn = document.getElementById("load-older");
    if (btn && !btn.disabled) btn.click();
  }
}

export function useChatStore() {
  return useSyncExternalStore(subscribe, () => snapshot, () => snapshot);
}

export function useChatFeed(feed) {
  useEffect(() => {
    applyFeed(feed);
  }, [feed]);
}

// Sending ---------------------------------------------------------------------------------------
// Evaluated by the composer's submit, before the form is cleared: makes the message's client id
// and shows it at once as pending (no round trip), then the server confirms or fails it.
const MAX_BODY = 4000;

function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function beginSend(purpose) {
  const cid = randomId();
  const el = document.getElementById("composer");
  const body = (el ? el.value : "").trim();
  const up = state.uploads[purpose];
  const media = up && !up.error && !up.busy ? up.id : "";
  if (!state.conv || (!body && !media) || body.length > MAX_BODY) return cid;
  const item = {
    id: 0,
    cid,
    conv: state.conv,
    sender: 0,
    mine: true,
    body,
    at: Date.now(),
    status: "pending",
    img: media ? `/media/${media}/thumb` : "",
    full: media ? `/media/${media}/full` : "",
    media,
  };
  state.msgs = annotate(upsertMsg(state.msgs, item));
  if (media) state.uploads = { ...state.uploads, [purpose]: null };
  publish();
  requestAnimationFrame(() => {
    const s = scroller();
    if (s) s.scrollTop = s.scrollHeight;
  });
  return cid;
}

// Image uploads -----------------------------------------------------------------------------
// An image is uploaded as soon as it is picked (plain HTTP POST, so the websocket and the tab's
// other events are never blocked), with a local preview and progress. The server validates and
// re-encodes it; the message or profile then refers to it by id.
const MAX_UPLOAD = 10 * 1024 * 1024;
const ACCEPT = "image/jpeg,image/png,image/webp,image/gif";

function setUpload(purpose, up) {
  const prev = state.uploads[purpose];
  if (prev && prev.preview && (!up || up.preview !== prev.preview)) URL.revokeObjectURL(prev.preview);
  state.uploads = { ...state.uploads, [purpose]: up };
  publish();
}

function patchUpload(purpose, token, fields) {
  const cur = state.uploads[purpose];
  if (!cur || cur.token !== token) return; // replaced or removed meanwhile
  state.uploads = { ...state.uploads, [purpose]: { ...cur, ...fields } };
  publish();
}

export function startUpload(purpose, file) {
  const token = Math.random().toString(36).slice(2);
  const up = { token, name: file.name, preview: URL.createObjectURL(file), progress: 0, id: "", thumb: "", error: "", busy: true };
  setUpload(purpose, up);
  if (file.size === 0) return patchUpload(purpose, token, { busy: false, error: "The file is empty." });
  if (file.size > MAX_UPLOAD) return patchUpload(purpose, token, { busy: false, error: "Images can be at most 10 MB." });
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/media?purpose=${encodeURIComponent(purpose)}`);
  xhr.withCredentials = true;
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) patchUpload(purpose, token, { progress: Math.round((e.loaded * 100) / e.total) });
  };
  xhr.onload = () => {
    let res = {};
    try {
      res = JSON.parse(xhr.responseText);
    } catch (err) {
      res = { ok: false, error: "Upload failed. Try again." };
    }
    if (xhr.status === 200 && res.ok) patchUpload(purpose, token, { busy: false, progress: 100, id: res.id, thumb: res.thumb });
    else patchUpload(purpose, token, { busy: false, error: res.error || `Upload failed (${xhr.status}).` });
  };
  xhr.onerror = () => patchUpload(purpose, token, { busy: false, error: "Upload failed. Check your connection." });
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  xhr.send(file);
}

export function pickImage(purpose) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = ACCEPT;
  input.style.display = "none";
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) startUpload(purpose, input.files[0]);
    input.remove();
  });
  document.body.appendChild(input);
  input.click();
}

export function clearUpload(purpose) {
  setUpload(purpose, null);
}

// What a send/save hands to the server: "" (no image), "uploading", or the uploaded id.
export function uploadId(purpose) {
  const up = state.uploads[purpose];
  if (!up || up.error) return "";
  return up.busy ? "uploading" : up.id;
}

if (typeof window !== "undefined") {
  window.chatStore = { state: () => snapshot, scrollToNewest, pickImage, clearUpload, uploadId, startUpload, beginSend };
}

// Presentation helpers: visitor names, avatars, times. Output is plain strings.

import { lang, t } from "./i18n.js";

const AVATAR_HUES = [210, 160, 280, 20, 330, 190, 45, 250, 100, 0];

/** A short, stable label for a guest: "Visitor 3f9a2c". */
export function visitorName(guestId) {
  return `${t("visitor")} ${String(guestId || "").replace(/[^A-Za-z0-9]/g, "").slice(0, 6) || "?"}`;
}

/** Two characters and a hue for a guest's avatar. */
export function avatarFor(guestId) {
  const id = String(guestId || "?");
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return { initials: id.replace(/[^A-Za-z0-9]/g, "").slice(0, 2).toUpperCase() || "?", hue: AVATAR_HUES[hash % AVATAR_HUES.length] };
}

/** "now", "5 min", "3 h", "Mon", "12 Mar": compact time for lists. */
export function shortTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const seconds = (Date.now() - when.getTime()) / 1000;
  if (seconds < 45) return t("time.now");
  if (seconds < 3600) return t("time.minutes", { n: Math.max(1, Math.round(seconds / 60)) });
  if (seconds < 86400) return t("time.hours", { n: Math.round(seconds / 3600) });
  if (seconds < 6 * 86400) return when.toLocaleDateString(lang(), { weekday: "short" });
  return when.toLocaleDateString(lang(), { day: "numeric", month: "short" });
}

/** Clock time of a message. */
export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });
}

/** Full date and time. */
export function fullTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(lang(), { dateStyle: "medium", timeStyle: "short" });
}

/** Day heading in a conversation: "Today", "Yesterday" or the date. */
export function dayLabel(iso) {
  const day = new Date(iso);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86400000);
  if (day.toDateString() === today.toDateString()) return t("time.today");
  if (day.toDateString() === yesterday.toDateString()) return t("time.yesterday");
  return day.toLocaleDateString(lang(), { day: "numeric", month: "long", year: "numeric" });
}

/** A single line preview of message text. */
export function preview(text, limit = 120) {
  const line = String(text || "").replace(/\s+/g, " ").trim();
  return line.length > limit ? `${line.slice(0, limit - 1)}…` : line;
}

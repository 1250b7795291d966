// Interface text of the chat in English and Russian, and the rules for choosing one.

function ruPlural(n, one, few, many) {
  const mod10 = n % 10;
  const mod100 = n % 100;
  if (mod10 === 1 && mod100 !== 11) return one;
  if (mod10 >= 2 && mod10 <= 4 && (mod100 < 12 || mod100 > 14)) return few;
  return many;
}

const TEXT = {
  en: {
    chat: "Chat",
    assistant: "Assistant",
    operator: "Operator",
    you: "You:",
    statusAi: "Online · replies instantly",
    statusRequested: "Waiting for an operator…",
    statusOperator: (name) => (name ? `${name} · Support` : "Operator · Support"),
    statusClosed: "Conversation ended",
    statusUnavailable: "Chat unavailable",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    offline: "No connection. Your messages will be sent when it is back.",
    placeholder: "Write a message…",
    inputLabel: "Message",
    send: "Send",
    close: "Minimize chat",
    messages: "Conversation",
    human: "Talk to a human",
    humanFailed: "Could not call an operator. Please try again.",
    pending: "Sending…",
    sent: "Sent",
    seen: "Seen",
    failed: "Not sent. Tap to retry",
    typing: (who) => `${who} is typing…`,
    joined: (name) => (name ? `An operator joined: ${name}` : "An operator joined"),
    requested: "We have called an operator. They will join shortly.",
    back: "The assistant is back in the conversation",
    closed: "The conversation has ended",
    newChat: "Start a new conversation",
    ended: "Need anything else?",
    intro: "We usually answer right away, and a person joins whenever you ask.",
    unauthorized: "This chat is not available right now: its access key has changed. Please reload the page later.",
    forbidden: "This chat is not available on this website.",
    notFound: "This conversation no longer exists.",
    unavailable: "This chat is not available.",
    tooLong: (max) => `The message is too long (at most ${max} characters).`,
    rateLimited: "You are sending messages too fast. We will send them in a moment.",
    powered: "Powered by",
    today: "Today",
    yesterday: "Yesterday",
    unread: (n) => (n === 1 ? "1 new message" : `${n} new messages`),
  },
  ru: {
    chat: "Чат",
    assistant: "Ассистент",
    operator: "Оператор",
    you: "Вы:",
    statusAi: "Онлайн · отвечаем сразу",
    statusRequested: "Ждём оператора…",
    statusOperator: (name) => (name ? `${name} · Поддержка` : "Оператор · Поддержка"),
    statusClosed: "Диалог завершён",
    statusUnavailable: "Чат недоступен",
    connecting: "Подключаемся…",
    reconnecting: "Переподключаемся…",
    offline: "Нет соединения. Сообщения отправятся, когда оно появится.",
    placeholder: "Напишите сообщение…",
    inputLabel: "Сообщение",
    send: "Отправить",
    close: "Свернуть чат",
    messages: "Переписка",
    human: "Позвать оператора",
    humanFailed: "Не удалось позвать оператора. Попробуйте ещё раз.",
    pending: "Отправляется…",
    sent: "Отправлено",
    seen: "Прочитано",
    failed: "Не отправлено. Нажмите, чтобы повторить",
    typing: (who) => `${who} печатает…`,
    joined: (name) => (name ? `Оператор подключился: ${name}` : "Оператор подключился"),
    requested: "Мы позвали оператора, он скоро подключится.",
    back: "Ассистент снова в диалоге",
    closed: "Диалог завершён",
    newChat: "Начать новый диалог",
    ended: "Нужно что-то ещё?",
    intro: "Обычно отвечаем сразу, а по вашей просьбе подключится человек.",
    unauthorized: "Чат сейчас недоступен: его ключ доступа изменился. Обновите страницу позже.",
    forbidden: "Чат недоступен на этом сайте.",
    notFound: "Этот диалог больше не существует.",
    unavailable: "Чат недоступен.",
    tooLong: (max) => `Сообщение слишком длинное (не больше ${max} символов).`,
    rateLimited: "Вы отправляете сообщения слишком часто. Отправим их через мгновение.",
    powered: "Работает на",
    today: "Сегодня",
    yesterday: "Вчера",
    unread: (n) => `${n} ${ruPlural(n, "новое сообщение", "новых сообщения", "новых сообщений")}`,
  },
};

/** "ru" or "en": the page's data-lang when given, else the browser's language. */
export function pickLang(configured) {
  if (configured === "ru" || configured === "en") return configured;
  const wanted = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return wanted.toLowerCase().startsWith("ru") ? "ru" : "en";
}

/** The interface text of one language. */
export function texts(lang) {
  return TEXT[lang] || TEXT.en;
}

// The server writes handoff notices in English; show them in the visitor's language.
const SYSTEM_NOTICES = [
  [/^The visitor asked for a human operator\.$/, (t) => t.requested],
  [/^(.*) joined the conversation\.$/, (t, m) => t.joined(m[1] === "None" ? "" : m[1])],
  [/^The assistant is back in the conversation\.$/, (t) => t.back],
  [/^The conversation was closed\.$/, (t) => t.closed],
];

/** The text of a system message in the interface language (unknown notices stay as sent). */
export function systemNotice(t, text) {
  for (const [pattern, render] of SYSTEM_NOTICES) {
    const match = pattern.exec(text);
    if (match) return render(t, match);
  }
  return text;
}

/** The operator's name from an "X joined the conversation." notice, or "". */
export function joinedName(text) {
  const match = /^(.*) joined the conversation\.$/.exec(text);
  return match && match[1] !== "None" ? match[1] : "";
}

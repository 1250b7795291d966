// The chat's dictionaries in English and Russian, and the rule for choosing one (shared/i18n.js translates).

import { Translator } from "../../shared/i18n.js";

const DICTIONARIES = {
  en: {
    chat: "Chat",
    assistant: "Assistant",
    operator: "Operator",
    you: "You:",
    statusAi: "Online · replies instantly",
    statusRequested: "Waiting for an operator…",
    statusOperator: ({ name }) => (name ? `${name} · Support` : "Operator · Support"),
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
    typing: "{who} is typing…",
    newChat: "Start a new conversation",
    ended: "Need anything else?",
    intro: "We usually answer right away, and a person joins whenever you ask.",
    unauthorized: "This chat is not available right now: its access key has changed. Please reload the page later.",
    forbidden: "This chat is not available on this website.",
    notFound: "This conversation no longer exists.",
    unavailable: "This chat is not available.",
    tooLong: "The message is too long (at most {max} characters).",
    rateLimited: "You are sending messages too fast. We will send them in a moment.",
    powered: "Powered by",
    notices: {
      human_requested: () => "We have called an operator. They will join shortly.",
      operator_joined: ({ operator }) => (operator ? `An operator joined: ${operator}` : "An operator joined"),
      assistant_returned: () => "The assistant is back in the conversation",
      conversation_closed: () => "The conversation has ended",
    },
  },
  ru: {
    chat: "Чат",
    assistant: "Ассистент",
    operator: "Оператор",
    you: "Вы:",
    statusAi: "Онлайн · отвечаем сразу",
    statusRequested: "Ждём оператора…",
    statusOperator: ({ name }) => (name ? `${name} · Поддержка` : "Оператор · Поддержка"),
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
    typing: "{who} печатает…",
    newChat: "Начать новый диалог",
    ended: "Нужно что-то ещё?",
    intro: "Обычно отвечаем сразу, а по вашей просьбе подключится человек.",
    unauthorized: "Чат сейчас недоступен: его ключ доступа изменился. Обновите страницу позже.",
    forbidden: "Чат недоступен на этом сайте.",
    notFound: "Этот диалог больше не существует.",
    unavailable: "Чат недоступен.",
    tooLong: "Сообщение слишком длинное (не больше {max} символов).",
    rateLimited: "Вы отправляете сообщения слишком часто. Отправим их через мгновение.",
    powered: "Работает на",
    notices: {
      human_requested: () => "Мы позвали оператора, он скоро подключится.",
      operator_joined: ({ operator }) => (operator ? `Оператор подключился: ${operator}` : "Оператор подключился"),
      assistant_returned: () => "Ассистент снова в диалоге",
      conversation_closed: () => "Диалог завершён",
    },
  },
};

/** "ru" or "en": the page's data-lang when given, else the browser's language. */
export function pickLang(configured) {
  if (configured === "ru" || configured === "en") return configured;
  const wanted = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return wanted.toLowerCase().startsWith("ru") ? "ru" : "en";
}

/** The chat's translator for one language: t(key, vars) and notice(message). */
export function translator(lang) {
  return new Translator(DICTIONARIES, lang);
}

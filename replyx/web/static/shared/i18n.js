// Translation machinery of both front ends: t(), plural forms, and system notices by code.
//
// Each front end keeps its own dictionaries, one per language, of this shape:
//   "key": "Text with {placeholders}"                  a string
//   "key": {one: "{n} message", other: "{n} messages"}  plural forms, chosen by vars.n
//   "key": (vars) => "..."                             anything else
//   notices: {operator_joined: (args) => "..."}        system notices, keyed by the server's code
// A key missing in a language falls back to English, then to the key itself.

const PLACEHOLDER = /\{(\w+)\}/g;

/** The plural form of n in a language: "one", "few", "many" or "other" (CLDR rules, via Intl). */
export function pluralForm(lang, n) {
  return new Intl.PluralRules(lang).select(n);
}

/** Pick the form of n from {one, few, many, other}; a missing form falls back to "other", then "many". */
export function plural(lang, n, forms) {
  return forms[pluralForm(lang, n)] ?? forms.other ?? forms.many;
}

/** Put vars into the {placeholders} of a text; unknown placeholders stay as written. */
export function fill(text, vars) {
  if (!vars) return text;
  return text.replace(PLACEHOLDER, (whole, name) => (name in vars && vars[name] !== null ? String(vars[name]) : whole));
}

export class Translator {
  /** dictionaries: {en: {...}, ru: {...}}; English is the fallback of every other language. */
  constructor(dictionaries, lang) {
    this.dictionaries = dictionaries;
    this.lang = dictionaries[lang] ? lang : "en";
    this.t = this.t.bind(this);
  }

  /** The text for a key in the current language, with vars filled in. */
  t(key, vars) {
    const value = this.dictionaries[this.lang][key] ?? this.dictionaries.en[key];
    if (value === undefined) return key;
    if (typeof value === "function") return value(vars || {});
    if (typeof value === "object") return fill(plural(this.lang, Number(vars && vars.n), value), vars);
    return fill(value, vars);
  }

  /**
   * A system message in the current language: its `notice` code through the dictionary's
   * notices, with the message's args; a message without a notice, or with a code this
   * client does not know, shows the server's text as sent.
   */
  notice(message) {
    const code = message.notice;
    const render = code && ((this.dictionaries[this.lang].notices || {})[code] ?? (this.dictionaries.en.notices || {})[code]);
    return render ? render(message.args || {}) : message.text;
  }
}

"""The page's own CSS and start-up script (``launch`` hands both to Gradio), and the language switch.

Bilingual HTML from the views carries both languages as ``.en`` / ``.ko`` spans; the script reads the page's
language off a hidden translated probe (``#lang-probe``, placed by ``app.build_demo``) and the CSS shows one.
Values that cannot carry spans (table headers, chart titles, choices) are made in one language by Python: the
page's language picker (``#lang-picker``, a Radio of ``en`` / ``ko``) is an input of those events, and
``PAGE_LANG_ARG_JS`` hands the page's language to the events that run before the picker is in sync (page load).

Switching the language from the page: Gradio 6 keeps its locale in a svelte-i18n store that only its footer
Settings panel sets (``changeLocale`` of its ``core`` module; no query parameter is read). The picker imports that
same module (already loaded, so the same store) and calls ``changeLocale``; the tab buttons of tabs not opened yet
keep the label they were given at start-up, so the script relabels them from the page's own translations.
``?lang=ko`` (or ``en``) asks for a language on arrival; a switch writes it into the address.
"""

from __future__ import annotations

LANGUAGES = ("en", "ko")
PICKER_CHOICES = [("EN", "en"), ("한국어", "ko")]

# The language the page shows, as a JS expression: the address's ?lang=, else the language already applied,
# else Gradio's (the probe), else the browser's.
PAGE_LANG = """(() => {
  const pick = (v) => (String(v || '').toLowerCase().startsWith('ko') ? 'ko' : 'en');
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked) return pick(asked);
  const shown = document.documentElement.dataset.cnnvizLang;
  if (shown) return shown;
  const probe = document.querySelector('#lang-probe');
  if (probe && probe.innerText.trim()) return pick(probe.innerText.trim());
  return pick(navigator.language);
})()"""

# For an event whose last input is the picker: the page's language in its place (the picker's own value may
# not be in sync yet when the page has just loaded).
PAGE_LANG_ARG_JS = f"(...args) => [...args.slice(0, -1), {PAGE_LANG}]"

# The picker's own event (on change: its value is the new one by then): switch the page (Gradio's labels, the
# bilingual HTML, the address), then hand the value on unchanged.
PICKER_JS = """
(lang) => { if (window.cnnvizSetLang) window.cnnvizSetLang(lang); return lang; }
"""

LANGUAGE_JS = """
() => {
  const root = document.documentElement;
  const pick = (v) => (String(v || '').toLowerCase().startsWith('ko') ? 'ko' : 'en');
  const probeLang = () => {
    const probe = document.querySelector('#lang-probe');
    const text = probe && probe.innerText.trim();
    return text ? pick(text) : null;
  };
  const translations = () => (window.gradio_config && window.gradio_config.i18n_translations) || {};
  // Tab buttons of tabs not opened yet keep their start-up label: relabel them from our own dictionaries.
  const relabelTabs = (lang) => {
    const all = translations();
    const target = all[lang] || {};
    const keys = Object.keys(target);
    document.querySelectorAll('[role=tab], .tab-container button').forEach((button) => {
      const walker = document.createTreeWalker(button, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.nodeValue.trim();
        if (!text) continue;
        const key = keys.find((k) => Object.values(all).some((d) => d[k] === text));
        if (key && target[key] !== text) node.nodeValue = node.nodeValue.replace(text, target[key]);
      }
    });
  };
  const syncPicker = (lang) => {
    const input = document.querySelector(`#lang-picker input[value="${lang}"]`);
    if (input && !input.checked) input.click();
  };
  let wanted = null;
  let lastProbe = null;
  window.cnnvizSetLang = async (lang) => {
    lang = pick(lang);
    wanted = lang;
    root.dataset.cnnvizLang = lang;
    const url = new URL(location.href);
    if (url.searchParams.get('lang') !== lang) {
      url.searchParams.set('lang', lang);
      history.replaceState(history.state, '', url);
    }
    try {
      const core = performance.getEntriesByType('resource').map((e) => e.name)
        .find((n) => /\\/assets\\/core-[^/]+\\.js$/.test(n));
      if (core) (await import(core)).changeLocale(lang);
    } catch (error) {
      console.warn('cnnviz: could not switch Gradio\\'s own labels', error);
    }
    relabelTabs(lang);
    syncPicker(lang);
  };
  const apply = () => {
    const probe = probeLang();
    if (probe && probe !== lastProbe) {  // Gradio's locale changed (start-up, our switch, or its Settings panel)
      lastProbe = probe;
      if (wanted === null || probe !== wanted) {
        wanted = probe;
        relabelTabs(probe);
      }
    }
    if (wanted) {
      if (root.dataset.cnnvizLang !== wanted) root.dataset.cnnvizLang = wanted;
      syncPicker(wanted);
    }
  };
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked) window.cnnvizSetLang(asked);
  apply();
  new MutationObserver(apply).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""
CSS = """
.ko { display: none; }
html[data-cnnviz-lang="ko"] .ko { display: inline !important; }  /* beats Gradio's prefixed copy of .ko */
html[data-cnnviz-lang="ko"] .en { display: none !important; }
#lang-probe { display: none; }
#lang-picker { flex-grow: 0; min-width: 170px; align-self: center; }
#lang-picker .wrap { flex-wrap: nowrap; }
.diagram-scroll { overflow-x: auto; width: 100%; }
.diagram-hint { color: #666; font-size: 0.85em; margin: 2px 0 4px; }
.layer-card h3 { margin: 0 0 2px; }
.layer-card table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
.layer-card th { text-align: left; vertical-align: top; padding: 4px 8px 4px 0; white-space: nowrap; color: #444; }
.layer-card td { padding: 4px 0; }
.layer-card code { white-space: normal; }
.layer-card .formula { margin: 1px 0 3px; }
.muted { color: #666; }
"""

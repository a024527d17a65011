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
/* a refusal said in an answer's own panel (handlers.said_in_place), where a pop-up cannot be shown */
.said-in-place { border: 1px solid #c0392b; border-radius: 6px; padding: 8px 12px; color: #7b1d13;
  background: #fdf0ee; }
/* a tab's slot for such a refusal (handlers.refusal_slot) takes no room, not even the column's gap, while empty */
.refusal-slot:not(:has(.said-in-place)) { display: none !important; }
.ko { display: none; }
html[data-cnnviz-lang="ko"] .ko { display: inline !important; }  /* beats Gradio's prefixed copy of .ko */
html[data-cnnviz-lang="ko"] .en { display: none !important; }
#lang-probe { display: none; }
#lang-picker { flex-grow: 0; min-width: 170px; align-self: center; }
#lang-picker .wrap { flex-wrap: nowrap; }
.diagram-scroll { overflow-x: auto; width: 100%; }
.diagram-hint { color: #666; font-size: 0.85em; margin: 2px 0 4px; }
.share-line { font-size: 1.05em; margin: 2px 0 6px; display: flex; align-items: center; flex-wrap: wrap; gap: 4px; }
.share-line .share-bar { display: inline-flex; width: 90px; height: 12px; background: #ddd; border-radius: 2px;
  overflow: hidden; vertical-align: middle; }
.share-line .share-bar span { display: block; height: 100%; }
.share-line .share-sep { margin: 0 8px; color: #999; }
.layer-card h3 { margin: 0 0 2px; }
.layer-card table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
.layer-card th { text-align: left; vertical-align: top; padding: 4px 8px 4px 0; white-space: nowrap; color: #444; }
.layer-card td { padding: 4px 0; }
.layer-card code { white-space: normal; }
.layer-card .formula { margin: 1px 0 3px; }
.muted { color: #666; }
.cnnviz-downloads ul { list-style: none; padding: 0; margin: 4px 0 0; display: flex; flex-wrap: wrap; gap: 4px 22px; }
.cnnviz-downloads li { margin: 0; }
.cnnviz-downloads a { font-weight: 600; }
.cnnviz-downloads small { color: #666; }
/* The Lesson tab */
#page-head { align-items: center; }
.lesson-step h3 { margin: 4px 0 6px; }
.lesson-step p { font-size: 1.05em; line-height: 1.5; margin: 4px 0; max-width: 70em; }
.lesson-q { background: #fff7e6; border-left: 4px solid #f28e2b; padding: 6px 10px; }
.lesson-right { color: #1e6b2e; font-size: 1.05em; }
.lesson-wrong { color: #a4262c; font-size: 1.05em; }
.lesson-right code, .lesson-wrong code { font-size: 1em; }
.lesson-table { border-collapse: collapse; font-size: 1.05em; margin: 6px 0; }
.lesson-table th, .lesson-table td { padding: 6px 12px; text-align: left; border-bottom: 1px solid #ddd; }
.lesson-table td:nth-child(3) { min-width: 240px; }
/* bar charts drawn in Python (views.bars): from zero, in the table's order; Compare's three side by side */
.cnnviz-bars { max-width: 760px; flex: 1 1 300px; }
.cnnviz-bars-title { font-weight: 600; margin-bottom: 8px; }
.cnnviz-bar-row { display: grid; grid-template-columns: 8em 1fr 5.5em; align-items: center; gap: 10px;
  margin: 6px 0; }
.cnnviz-bar-track { display: block; height: 26px; background: var(--background-fill-secondary, #f4f4f5); }
.cnnviz-bar { display: block; height: 100%; min-width: 2px; }
.cnnviz-bar-value { font-variant-numeric: tabular-nums; font-weight: 600; white-space: nowrap; }
.cnnviz-bar-label { overflow-wrap: anywhere; }
.cnnviz-bars-row { display: flex; flex-wrap: wrap; gap: 24px; }
.lesson-bar { display: inline-block; height: 14px; vertical-align: middle; min-width: 2px; max-width: 200px; }
.lesson-photo { display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-start; }
.lesson-img { max-width: 48%; height: auto; image-rendering: auto; }
/* Presentation mode (html.cnnviz-present: the toggle, or ?present=1): larger type, fewer controls */
html.cnnviz-present .gradio-container { --text-sm: 16px; --text-md: 19px; --text-lg: 22px; --text-xl: 26px;
  --block-label-text-size: 17px; --block-info-text-size: 16px; --section-header-text-size: 19px; }
html.cnnviz-present .gradio-container h1 { font-size: 1.6em; }
html.cnnviz-present .diagram-scroll svg { max-width: none !important; }
html.cnnviz-present .share-line { font-size: 1.35em; }
html.cnnviz-present .share-line .share-bar { width: 130px; height: 16px; }
/* the table and the card one above the other, each the page's width (side by side the card wraps every line) */
html.cnnviz-present .row:has(#arch-table):has(#layer-details) { flex-wrap: wrap; }
html.cnnviz-present .row:has(#arch-table):has(#layer-details) > * { min-width: 100% !important; }
html.cnnviz-present .lesson-step p, html.cnnviz-present .lesson-right,
html.cnnviz-present .lesson-wrong { font-size: 1.3em; }
html.cnnviz-present .lesson-table { font-size: 1.3em; }
html.cnnviz-present .diagram-hint, html.cnnviz-present footer,
html.cnnviz-present .gradio-container .info, html.cnnviz-present #page-head p { display: none !important; }
html.cnnviz-present #present-toggle { background: #f28e2b; color: #fff; }
"""

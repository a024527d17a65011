"""The page's own CSS and start-up script (``launch`` hands both to Gradio).

Bilingual HTML from the views carries both languages as ``.en`` / ``.ko`` spans; the script reads the page's
language off a hidden translated probe (``#lang-probe``, placed by ``app.build_demo``) and the CSS shows one.
"""

from __future__ import annotations

# The page's language, read off a hidden translated probe, decides which half of bilingual HTML shows.
LANGUAGE_JS = """
() => {
  const apply = () => {
    const probe = document.querySelector('#lang-probe');
    const ko = probe && probe.innerText.trim().startsWith('ko');
    document.documentElement.dataset.cnnvizLang = ko ? 'ko' : 'en';
  };
  apply();
  new MutationObserver(apply).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""
CSS = """
.ko { display: none; }
html[data-cnnviz-lang="ko"] .ko { display: inline !important; }  /* beats Gradio's prefixed copy of .ko */
html[data-cnnviz-lang="ko"] .en { display: none !important; }
#lang-probe { display: none; }
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

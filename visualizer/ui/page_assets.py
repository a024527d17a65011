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
"""

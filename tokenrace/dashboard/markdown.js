// Markdown for untrusted model output: marked renders, DOMPurify sanitizes, and nothing in an answer can run
// script or load a resource from anywhere. Three layers:
//   1. marked: raw HTML in the answer is shown as text (never parsed as HTML);
//   2. DOMPurify: only plain HTML formatting survives (no script, style, iframe, form, svg, event handlers,
//      javascript: or data: links);
//   3. a DOMPurify hook: images never load (shown as a labelled placeholder) and links open in a new tab
//      without referrer or opener.
// The page's Content-Security-Policy (no inline script, img-src 'self' data:) is the fourth.
import { Marked } from "/static/vendor/marked.esm.js";
import DOMPurify from "/static/vendor/purify.es.js";

const escapeHTML = (s) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Raw HTML blocks and inline tags in an answer are text, not markup.
    html(token) { return escapeHTML(token.raw ?? token.text ?? ""); },
  },
});

const SAFE_LINK = /^(?:https?:|mailto:|#)/i;

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") {
    const href = node.getAttribute("href") || "";
    if (!SAFE_LINK.test(href.trim())) {
      node.removeAttribute("href");
      node.classList.add("link-blocked");
      node.setAttribute("title", "link removed: only http, https and mailto links are kept");
    } else {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
      node.setAttribute("title", href);
    }
  }
  if (node.nodeName === "INPUT") node.setAttribute("disabled", "");   // task-list check boxes
});

// Images are replaced before they reach the document, so a browser never requests them.
DOMPurify.addHook("uponSanitizeElement", (node, data) => {
  if (data.tagName === "img") {
    const alt = node.getAttribute("alt") || "image";
    const src = node.getAttribute("src") || "";
    const span = node.ownerDocument.createElement("span");
    span.className = "img-blocked";
    span.textContent = `🖼 ${alt}`;
    span.setAttribute("title", `image not loaded: ${src.slice(0, 300)}`);
    node.replaceWith(span);
  }
});

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "script", "iframe", "frame", "object", "embed", "form", "button", "textarea", "select",
                "option", "link", "meta", "base", "video", "audio", "source", "track", "picture", "svg", "math",
                "template", "dialog", "img"],
  FORBID_ATTR: ["style", "srcset", "background", "poster", "action", "formaction", "ping", "id", "name"],
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/** Sanitized DOM for a markdown answer (complete or still streaming). */
export function renderMarkdown(text) {
  let html;
  try {
    html = marked.parse(text);
  } catch {
    html = `<pre>${escapeHTML(text)}</pre>`;
  }
  return DOMPurify.sanitize(html, PURIFY);
}


import { describe, expect, it } from "vitest";
import { renderMarkdown, snippetParts } from "./markdown";

// Model output is untrusted: none of these may leave anything active behind.
const corpus = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "<svg onload=alert(1)>",
  "<svg><script>alert(1)</script></svg>",
  "[x](javascript:alert(1))",
  "[x](JAVASCRIPT:alert(1))",
  "[x](java\tscript:alert(1))",
  "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  '<a href="javascript:alert(1)">click</a>',
  '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
  "[x](&#106;avascript:alert(1))",
  "<iframe src=\"https://evil.example\"></iframe>",
  "<object data=\"evil.swf\"></object>",
  "<embed src=\"evil.swf\">",
  "<form action=\"https://evil.example\"><input type=submit></form>",
  "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
  "<style>body{display:none}</style>",
  "<p onclick=\"alert(1)\">hi</p>",
  "<b onmouseover=alert(1)>bold</b>",
  '<meta http-equiv="refresh" content="0;url=https://evil.example">',
  '<base href="https://evil.example/">',
  '<link rel="stylesheet" href="https://evil.example/x.css">',
  "![x](http://evil.example/x.png)",
  '<img srcset="http://evil.example/x.png 1x">',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  "<<script>script>alert(1)<</script>/script>",
  '<div style="background:url(javascript:alert(1))">x</div>',
  '<a href="vbscript:msgbox(1)">x</a>',
  "```html\n<script>alert(1)</script>\n```",
  '<details open ontoggle="alert(1)">',
  '<video><source onerror="alert(1)"></video>',
  '<input autofocus onfocus="alert(1)">',
];

function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

describe("renderMarkdown", () => {
  it.each(corpus)("neutralises %s", (payload) => {
    const out = dom(renderMarkdown(payload));
    for (const tag of ["script", "iframe", "object", "embed", "form", "style", "meta", "base", "link", "img", "svg", "math", "video", "source", "details", "noscript"]) {
      expect(out.querySelector(tag), `<${tag}> in ${out.innerHTML}`).toBeNull();
    }
    for (const el of out.querySelectorAll("*")) {
      for (const attr of el.attributes) {
        expect(attr.name.startsWith("on"), `${attr.name} on <${el.tagName}>`).toBe(false);
        expect(attr.name).not.toBe("style");
        expect(attr.name).not.toBe("srcset");
      }
    }
    for (const a of out.querySelectorAll("a")) {
      const href = a.getAttribute("href");
      if (href !== null) expect(href).toMatch(/^(https?:|mailto:)/i);
    }
  });

  it("still renders ordinary Markdown", () => {
    const out = dom(
      renderMarkdown(
        "# Title\n\nSome **bold** and *em* text with `code`.\n\n- one\n- two\n\n1. first\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[site](https://example.com)\n\n```rust\nfn main() {}\n```\n",
      ),
    );
    expect(out.querySelector("h1")?.textContent).toBe("Title");
    expect(out.querySelector("strong")?.textContent).toBe("bold");
    expect(out.querySelectorAll("li").length).toBe(3);
    expect(out.querySelector("table td")?.textContent).toBe("1");
    const link = out.querySelector("a");
    expect(link?.getAttribute("href")).toBe("https://example.com");
    expect(link?.getAttribute("rel")).toContain("noopener");
    expect(link?.getAttribute("target")).toBe("_blank");
    expect(out.querySelector("pre code .hljs-keyword")?.textContent).toBe("fn");
    expect(out.querySelector("button[data-copy]")).not.toBeNull();
  });

  it("shows raw HTML as text", () => {
    const out = dom(renderMarkdown("a <b>bold</b> claim"));
    expect(out.querySelector("b")).toBeNull();
    expect(out.textContent).toContain("<b>bold</b>");
  });

  it("replaces images with their description, loading nothing", () => {
    const out = dom(renderMarkdown("![a cat](https://example.com/cat.png)"));
    expect(out.querySelector("img")).toBeNull();
    expect(out.textContent).toContain("a cat");
  });
});

describe("snippetParts", () => {
  it("marks the matched words and keeps everything else as text", () => {
    expect(snippetParts("the [[bread]] rises <img onerror=x>")).toEqual([
      { text: "the ", mark: false },
      { text: "bread", mark: true },
      { text: " rises <img onerror=x>", mark: false },
    ]);
  });
});

"""An XSS payload corpus after OWASP's XSS Filter Evasion Cheat Sheet, for the F5 tests.

Every payload runs `window.__xss=<n>` instead of `alert()`, so a payload that executes
says which one it was: `HOOK` in a template is replaced by the number given to `render`.
`B64(...)B64` is replaced by the base64 of what it encloses (after the hook is filled in),
for `data:...;base64,` URLs. Control characters (tab, newline, NUL, U+2028) are written as
Python escapes on purpose.

Templates never start or end with whitespace (intake trims fields), contain no carriage
return (HTML parsers turn it into a newline), no blank line (the widget makes paragraphs
of them) and stay well under the name limit (245) and the queue's excerpt length (320).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

HOOK = "XSSN"
_B64 = re.compile(r"B64\((.*?)\)B64", re.DOTALL)


@dataclass(frozen=True)
class Payload:
    family: str
    template: str

    def render(self, n: int) -> str:
        """The payload text with `window.__xss=<n>` as its effect."""
        text = self.template.replace(HOOK, str(n))
        return _B64.sub(lambda m: base64.b64encode(m[1].encode()).decode(), text)

    @property
    def has_control_chars(self) -> bool:
        """Names refuse control characters other than tab and newline (422)."""
        return any(ord(ch) < 32 and ch not in "\t\n" for ch in self.template)


PAYLOADS: tuple[Payload, ...] = (
    # -- script tags: case, whitespace, null bytes, nesting, odd brackets ----------------------
    Payload("script", "<script>window.__xss=XSSN</script>"),
    Payload("script", "<SCRIPT>window.__xss=XSSN</SCRIPT>"),
    Payload("script", "<ScRiPt>window.__xss=XSSN</sCrIpT>"),
    Payload("script", "<script\n>window.__xss=XSSN</script\t>"),
    Payload("script", "<scr\x00ipt>window.__xss=XSSN</scr\x00ipt>"),
    Payload("script", "<scr<script>ipt>window.__xss=XSSN</scr</script>ipt>"),
    Payload("script", "<<SCRIPT>window.__xss=XSSN;//<</SCRIPT>"),
    Payload("script", "<SCRIPT/XSS SRC=data:,window.__xss=XSSN></SCRIPT>"),
    Payload("script", '<SCRIPT a=">" SRC="data:,window.__xss=XSSN"></SCRIPT>'),
    Payload("script", '<IMG """><SCRIPT>window.__xss=XSSN</SCRIPT>">'),
    # -- event handlers --------------------------------------------------------------------------
    Payload("handler", "<img src=x onerror=window.__xss=XSSN>"),
    Payload("handler", '<IMG SRC=x OnErRoR="window.__xss=XSSN">'),
    Payload("handler", '<img src=x onerror="&#119;indow.__xss=XSSN">'),
    Payload("handler", "<img/src=x/onerror=window.__xss=XSSN>"),
    Payload("handler", "<img src=x onerror\t=\twindow.__xss=XSSN>"),
    Payload("handler", "<svg onload=window.__xss=XSSN>"),
    Payload("handler", "<svg/onload=window.__xss=XSSN//"),
    Payload("handler", "<body onload=window.__xss=XSSN>"),
    Payload("handler", "<body onpageshow=window.__xss=XSSN>"),
    Payload("handler", "<iframe onload=window.__xss=XSSN></iframe>"),
    Payload("handler", "<details open ontoggle=window.__xss=XSSN>"),
    Payload("handler", "<video><source onerror=window.__xss=XSSN></video>"),
    Payload("handler", "<video src=x onerror=window.__xss=XSSN></video>"),
    Payload("handler", "<audio src=x onerror=window.__xss=XSSN>"),
    Payload("handler", "<input autofocus onfocus=window.__xss=XSSN>"),
    Payload("handler", "<marquee onstart=window.__xss=XSSN>x</marquee>"),
    Payload("handler", "<style onload=window.__xss=XSSN></style>"),
    Payload("handler", "<frameset onload=window.__xss=XSSN>"),
    Payload("handler", '<IMG SRC=# onmouseover="window.__xss=XSSN">'),
    # -- javascript:, data: and vbscript: URLs -----------------------------------------------------
    Payload("url", '<a href="javascript:window.__xss=XSSN">link</a>'),
    Payload("url", '<a href="JaVaScRiPt:window.__xss=XSSN">link</a>'),
    Payload("url", '<a href="jav&#x09;ascript:window.__xss=XSSN">link</a>'),
    Payload("url", '<a href="jav\tascript:window.__xss=XSSN">link</a>'),
    Payload("url", '<a href="jav\nascript:window.__xss=XSSN">link</a>'),
    Payload("url", '<a href="javascript&colon;window.__xss=XSSN">link</a>'),
    Payload(
        "url",
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;'
        'window.__xss=XSSN">link</a>',
    ),
    Payload(
        "url",
        "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114"
        "&#0000105&#0000112&#0000116&#0000058window.__xss=XSSN>",
    ),
    Payload(
        "url",
        "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3Awindow.__xss=XSSN>",
    ),
    Payload("url", '<IMG SRC=" &#14;  javascript:window.__xss=XSSN;">'),
    Payload("url", '<iframe src="javascript:window.__xss=XSSN"></iframe>'),
    Payload("url", "<iframe src=data:text/html;base64,B64(<script>window.__xss=XSSN</script>)B64>"),
    Payload("url", '<object data="javascript:window.__xss=XSSN"></object>'),
    Payload("url", '<embed src="data:text/html,<script>window.__xss=XSSN</script>">'),
    Payload("url", '<a href="vbscript:window.__xss=XSSN">link</a>'),
    Payload("url", '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:window.__xss=XSSN">'),
    Payload("url", '<BASE HREF="javascript:window.__xss=XSSN;//">'),
    Payload("url", '<TABLE BACKGROUND="javascript:window.__xss=XSSN">'),
    # -- style and expression() ------------------------------------------------------------------
    Payload("style", '<DIV STYLE="width: expression(window.__xss=XSSN);">'),
    Payload("style", '<DIV STYLE="background-image: url(javascript:window.__xss=XSSN)">'),
    Payload("style", "<STYLE>@import'javascript:window.__xss=XSSN';</STYLE>"),
    Payload("style", '<STYLE>li {list-style-image: url("javascript:window.__xss=XSSN");}</STYLE>'),
    Payload("style", '<LINK REL="stylesheet" HREF="javascript:window.__xss=XSSN;">'),
    Payload("style", '<XSS STYLE="xss:expr/*XSS*/ession(window.__xss=XSSN)">'),
    # -- SVG and MathML ----------------------------------------------------------------------------
    Payload("svg", "<svg><script>window.__xss=XSSN</script></svg>"),
    Payload("svg", "<svg><script>window&#46;__xss=XSSN</script></svg>"),
    Payload("svg", "<svg><animate onbegin=window.__xss=XSSN attributeName=x dur=1s>"),
    Payload(
        "svg",
        "<svg><a><animate attributeName=href values=javascript:window.__xss=XSSN />"
        "<text x=20 y=20>XSS</text></a></svg>",
    ),
    Payload("svg", '<math><a xlink:href="javascript:window.__xss=XSSN">link</a></math>'),
    Payload("svg", "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=XSSN>"),
    # -- template, noscript and other raw-text breakouts ------------------------------------------
    Payload("breakout", '<noscript><p title="</noscript><img src=x onerror=window.__xss=XSSN>">'),
    Payload("breakout", "<template><script>window.__xss=XSSN</script></template>"),
    Payload("breakout", '<noembed><img title="</noembed><img src=x onerror=window.__xss=XSSN>">'),
    Payload("breakout", '<xmp><p title="</xmp><svg/onload=window.__xss=XSSN>">'),
    # -- attribute breakouts -----------------------------------------------------------------------
    Payload("attribute", '"><script>window.__xss=XSSN</script>'),
    Payload("attribute", "'><img src=x onerror=window.__xss=XSSN>"),
    Payload("attribute", '" autofocus onfocus="window.__xss=XSSN" x="'),
    Payload("attribute", "' autofocus onfocus='window.__xss=XSSN' x='"),
    Payload("attribute", "`><img src=`x` onerror=`window.__xss=XSSN`>"),
    Payload("attribute", "x onmouseover=window.__xss=XSSN autofocus onfocus=window.__xss=XSSN"),
    # -- HTML entities, UTF-7, UTF-16/full-width, US-ASCII tricks ----------------------------------
    Payload("encoding", "&lt;script&gt;window.__xss=XSSN&lt;/script&gt;"),
    Payload("encoding", "&#60;script&#62;window.__xss=XSSN&#60;/script&#62;"),
    Payload("encoding", "+ADw-script+AD4-window.__xss=XSSN+ADw-/script+AD4-"),
    Payload("encoding", "\\u003cscript\\u003ewindow.__xss=XSSN\\u003c/script\\u003e"),
    Payload("encoding", "\uff1cscript\uff1ewindow.__xss=XSSN\uff1c/script\uff1e"),
    Payload("encoding", "%3Cscript%3Ewindow.__xss=XSSN%3C%2Fscript%3E"),
    Payload("encoding", "\u00bcscript\u00bewindow.__xss=XSSN\u00bc/script\u00be"),
    # -- closing tags of the contexts a value may land in ------------------------------------------
    Payload("closer", "</textarea><script>window.__xss=XSSN</script>"),
    Payload("closer", "</title><script>window.__xss=XSSN</script>"),
    Payload("closer", "</style><script>window.__xss=XSSN</script>"),
    Payload("closer", "--><script>window.__xss=XSSN</script><!--"),
    Payload("closer", "]]><script>window.__xss=XSSN</script>"),
    # -- JSON and JavaScript string breakouts ------------------------------------------------------
    Payload("js", "</script><script>window.__xss=XSSN</script>"),
    Payload("js", '"}</script><script>window.__xss=XSSN</script>'),
    Payload("js", '";window.__xss=XSSN;//'),
    Payload("js", "';window.__xss=XSSN;//"),
    Payload("js", '\\";window.__xss=XSSN;//'),
    Payload("js", "x\u2028window.__xss=XSSN\u2029//"),
    Payload("js", "${window.__xss=XSSN}"),
    Payload("js", "{{constructor.constructor('window.__xss=XSSN')()}}"),
)

# Website values the API must refuse (422): not http(s), or with whitespace inside.
BAD_WEBSITES: tuple[str, ...] = (
    "javascript:window.__xss=XSSN",
    "JaVaScRiPt:window.__xss=XSSN",
    "javascript://example.org/%0Awindow.__xss=XSSN",
    "java\tscript:window.__xss=XSSN",
    "java\nscript:window.__xss=XSSN",
    "&#106;avascript:window.__xss=XSSN",
    "data:text/html,<script>window.__xss=XSSN</script>",
    "data:text/html;base64,B64(<script>window.__xss=XSSN</script>)B64",
    "vbscript:window.__xss=XSSN",
    "//evil.example/?window.__xss=XSSN",
)

# Website values the API accepts (valid http(s) URLs) that try to break out of `href`.
TRICKY_WEBSITES: tuple[str, ...] = (
    'https://example.org/?q="><script>window.__xss=XSSN</script>',
    "http://example.org/'onmouseover='window.__xss=XSSN'",
    'https://example.org/#"autofocus/onfocus="window.__xss=XSSN',
    "http://example.org/</a><img/src=x/onerror=window.__xss=XSSN>",
    "HTTPS://example.org/`onmouseover=window.__xss=XSSN",
)


def render(template: str, n: int) -> str:
    """A website template (or any template) with the hook numbered `n`."""
    return Payload("", template).render(n)

"""PII redaction: emails, IP addresses, keys/tokens, passwords and PEM private keys.

Detection follows BigCode's regex baseline (../shared/spec/STARCODER.md §5): our own regexes
for emails, IPs, passwords and PEM blocks, the `detect-secrets` plugins the spec names for
keys (keyword, basic-auth and private-key plugins off), and its Base64/Hex high-entropy
checks with a "looks random" guard and a hash guard. Guards leave alone: private, reserved,
documentation and loopback IPs, well-known public DNS resolvers, version- and date-like
strings, RFC 2606 example domains, UUIDs and hashes next to "sha"/"md5"/"hash".

`redact(text, mode)` is the pure function; `PIIRedactor` is the datatrove step that
applies it and counts findings per kind (stat keys `pii_<kind>`, `files_with_pii`, and for the
data card `card/pii/<kind>/{findings,files}`).
"""
from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

KINDS = ("email", "ip_address", "key", "password", "private_key")
REPLACEMENT = {"email": "<EMAIL>", "key": "<KEY>", "password": "<PASSWORD>", "private_key": "<KEY>"}
# A few fixed synthetic private addresses per family; distinct IPs of a file map to them in order.
SYNTHETIC_IPV4 = ("172.16.31.10", "172.16.58.3", "172.16.17.32", "192.168.127.12", "192.168.3.11")
SYNTHETIC_IPV6 = ("fd00:c0de::1", "fd00:c0de::2", "fd00:c0de::3", "fd00:c0de::4", "fd00:c0de::5")
PUBLIC_DNS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222",
    "208.67.220.220", "64.6.64.6", "64.6.65.6", "4.2.2.1", "4.2.2.2", "76.76.2.0", "94.140.14.14",
    "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111", "2606:4700:4700::1001",
    "2620:fe::fe", "2620:fe::9", "2620:119:35::35", "2620:119:53::53",
})
# detect-secrets plugins named in the spec (keyword / basic-auth / private-key stay off), each
# with the needles a line must hold before the plugin's regexes run on it (speed: running ~30
# regexes over every line is 30x slower than finding needles with str.find). A needle is a str
# (case-sensitive), ("lower", str) (searched in the lower-cased text) or a compiled regex that
# starts with a literal. `True` in third place: the line must also hold a 24+ character token.
_LOW, _LONG = "lower", re.compile(r"[A-Za-z0-9_\-/+]{24}")
PLUGINS: tuple[tuple[str, tuple, bool], ...] = (
    ("artifactory.ArtifactoryDetector", ("AKC", "AP"), False),
    ("aws.AWSKeyDetector", ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", (_LOW, "aws")), False),
    ("azure_storage_key.AzureStorageKeyDetector", ("AccountKey=",), False),
    ("cloudant.CloudantDetector", tuple((_LOW, n) for n in ("cloudant", "clou", "clkey", "cl_", "cl-", "clapi",
                                                             "clpw", "clpass", "cltoken")), True),
    ("discord.DiscordBotTokenDetector", (re.compile(r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}"),), False),
    ("github_token.GitHubTokenDetector", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), False),
    ("ibm_cloud_iam.IbmCloudIamDetector", tuple((_LOW, n) for n in ("key", "pwd", "pass", "token")), True),
    ("ibm_cos_hmac.IbmCosHmacDetector", ((_LOW, "secret"),), True),
    ("jwt.JwtTokenDetector", ("eyJ",), False),
    ("mailchimp.MailchimpDetector", ("-us",), False),
    ("npm.NpmDetector", ("_authToken",), False),
    ("sendgrid.SendGridDetector", ("SG.",), False),
    ("slack.SlackDetector", ("xox", "hooks.slack.com"), False),
    ("softlayer.SoftlayerDetector", tuple((_LOW, n) for n in ("softlayer", "slkey", "sl_", "sl-", "slapi", "slpass",
                                                               "slpwd", "sltoken")), True),
    ("stripe.StripeDetector", ("k_live_",), False),
    ("twilio.TwilioKeyDetector", ("AC", "SK"), False),
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_TLDS = ("com|org|net|edu|gov|mil|int|io|dev|info|biz|ai|app|co|me|name|pro|xyz|tech|cloud|online|site|"
         "email|mail|[a-z]{2}")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    rf"(?:{_TLDS})(?![\w-])", re.IGNORECASE)
_EXAMPLE_DOMAIN = re.compile(r"(?:^|\.)(?:example\.(?:com|org|net|edu)|[\w-]+\.(?:example|test|invalid|localhost)"
                             r"|localhost|example)$", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})"
                   r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:.])|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![\w:])")
_NETWORK_WORDS = re.compile(r"dns|server|host|\bip\b|addr|nameserver|proxy|remote|connect", re.IGNORECASE)
_VERSION_WORDS = re.compile(r"(?:version|ver|release|v|==|>=|<=|~=|@|rev)[\s:=\"'(]*$", re.IGNORECASE)
_PEM = re.compile(r"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)(.{16,20000}?)(-----END (?:[A-Z0-9]+ )*"
                  r"PRIVATE KEY(?: BLOCK)?-----)", re.DOTALL)
_PASSWORD = re.compile(
    r"""(?P<name>(?:password|passwd|passwort|pwd|db_pass|_pass\b|secret_key|api_secret|client_secret)[\w.-]{0,40})"""
    r"""["']?\]?\s*(?::=|=>|==|=|:)\s*(?P<q>["'`])?(?P<value>(?(q)[^"'`\n]{4,200}|[^\s"',;()}{\]\[]{4,200}))(?(q)(?P=q))""",
    re.IGNORECASE)
_CONN_STRING = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"'?#]{1,64}:(?P<value>[^\s:/@\"'?#]{3,128})@[\w.-]+",
                          re.IGNORECASE)
_PLACEHOLDER = re.compile(
    r"^(?:![\w!]+|\*+|x+|\.+|-+|_+|<[^>]*>|\{[^}]*\}|\$\{?[\w.]+\}?|%\(?\w*\)?s|%s|\?|none|null|nil|true|false|"
    r"password|passwd|pass|pwd|secret|your[\w_-]*|changeme|example|dummy|test|empty|xxx+|\w*[(\[].*)$",
    re.IGNORECASE)
_QUOTED = re.compile(r"""(['"])([A-Za-z0-9+/=_\-]{20,})\1""")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)
_HASH_WORDS = re.compile(r"sha|md5|hash|digest|checksum|crc|fingerprint|blake|commit|rev|etag|integrity", re.I)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_CONFIG_SUFFIXES = (".yaml", ".yml", ".ini", ".cfg", ".conf", ".properties", ".toml", ".env", ".envrc")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)*$")


@dataclass(frozen=True)
class Finding:
    """One detected span: `kind` (one of KINDS), `detector` (finer label), [start, end) in the text."""
    kind: str
    detector: str
    start: int
    end: int
    value: str


def is_config_file(path: str) -> bool:
    """YAML/INI/TOML/properties/.env files: their unquoted values are literals, not variables."""
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith(_CONFIG_SUFFIXES) or name.startswith(".env")


def _shannon(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def looks_random(s: str) -> bool:
    """The "gibberish" guard: a key mixes digits and letters and switches character class often
    (lower/upper/digit/other); words, identifiers and snake_case names do not."""
    if len(s) <= 8 or not any(c.isdigit() for c in s) or not any(c.isalpha() for c in s):
        return False
    classes = ["d" if c.isdigit() else "u" if c.isupper() else "l" if c.islower() else "o" for c in s]
    switches = sum(a != b for a, b in zip(classes, classes[1:])) / (len(s) - 1)
    return switches >= (0.25 if _HEX.match(s) else 0.3)


_PLUGINS_CACHE: list = []


def _plugins() -> list:
    """(plugin instance, needles, needs_long_token) for the spec's plugins, built once per process."""
    if not _PLUGINS_CACHE:
        import importlib
        for spec, needles, long_token in PLUGINS:
            module, name = spec.rsplit(".", 1)
            cls = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)
            _PLUGINS_CACHE.append((cls(), needles, long_token))
    return _PLUGINS_CACHE


class _Text:
    """A document plus lazily built helpers: its lower-cased copy and needle -> line lookups."""

    def __init__(self, text: str):
        self.text = text
        self._lower: str | None = None

    @property
    def lower(self) -> str:
        if self._lower is None:
            low = self.text.lower()  # same length unless some non-ASCII letter expands
            self._lower = low if len(low) == len(self.text) else self.text.translate(_ASCII_LOWER)
        return self._lower

    def _line(self, i: int) -> tuple[int, int]:
        end = self.text.find("\n", i)
        return self.text.rfind("\n", 0, i) + 1, len(self.text) if end == -1 else end

    def lines_with(self, needles) -> list[tuple[int, int]]:
        """Sorted (start, end) of the lines holding any needle (see PLUGINS for needle forms)."""
        spans: set[tuple[int, int]] = set()
        for n in needles:
            if isinstance(n, re.Pattern):  # continue after each found line: linear in the text
                m = n.search(self.text)
                while m:
                    span = self._line(m.start())
                    spans.add(span)
                    m = n.search(self.text, span[1])
                continue
            src, n = (self.lower, n[1]) if isinstance(n, tuple) else (self.text, n)
            i = src.find(n)
            while i != -1:
                span = self._line(i)
                spans.add(span)
                i = src.find(n, span[1])
        return sorted(spans)

    def near(self, start: int, end: int, pattern: re.Pattern, width: int = 40) -> bool:
        return bool(pattern.search(self.text, max(0, start - width), min(len(self.text), end + width)))


_IPV4_NEEDLE = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
_IPV6_NEEDLES = ("::", re.compile(r":[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:"))


def _ip_findings(t: _Text) -> list[Finding]:
    out = []
    for rx, family, needles in ((_IPV4, 4, (_IPV4_NEEDLE,)), (_IPV6, 6, _IPV6_NEEDLES)):
        for a, b in t.lines_with(needles):
            for m in rx.finditer(t.text, a, b):
                if _ip_guarded(t, m, family):
                    continue
                out.append(Finding("ip_address", f"ipv{family}", m.start(), m.end(), m.group(0)))
    return out


def _ip_guarded(t: _Text, m: re.Match, family: int) -> bool:
    """True when the guards of the spec leave this address alone."""
    s = m.group(0)
    if not any(c.isdigit() for c in s):
        return True
    if family == 6:
        groups = [g for g in re.split(r":+", s) if g]
        if len(groups) < 2 or (len(groups) == 2 and max(map(len, groups)) < 3):
            return True  # `1::2` is a slice, not an address
        before = t.text[max(0, m.start() - 1):m.start()]
        if before == "[" and t.text[max(0, m.start() - 3):m.start()] != "//[":
            return True  # a[10::2]
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return True
    if not addr.is_global or addr.is_multicast or s in PUBLIC_DNS or str(addr) in PUBLIC_DNS:
        return True  # private, loopback, link-local, documentation, reserved, or a public resolver
    line_start = t.text.rfind("\n", 0, m.start()) + 1
    if family == 4 and not _NETWORK_WORDS.search(t.text, line_start, m.start()):
        before = t.text[max(line_start, m.start() - 12):m.start()]
        if _VERSION_WORDS.search(before) or all(int(p) < 10 for p in s.split(".")[:3]):
            return True  # a version (v1.2.3.4, ==2.0.1.3), a section 8.2.4.44 or an OID-like 2.5.4.3
    return False


def _email_findings(t: _Text) -> list[Finding]:
    out = []
    for a, b in t.lines_with(("@",)):
        for m in _EMAIL.finditer(t.text, a, b):
            domain = m.group(0).rsplit("@", 1)[1]
            if not _EXAMPLE_DOMAIN.search(domain):
                out.append(Finding("email", "email", m.start(), m.end(), m.group(0)))
    return out


def _password_findings(t: _Text, config: bool) -> list[Finding]:
    out = []
    for rx, needles in ((_PASSWORD, ((_LOW, "pass"), (_LOW, "pwd"), (_LOW, "secret"))), (_CONN_STRING, ("://",))):
        for a, b in t.lines_with(needles):
            for m in rx.finditer(t.text, a, b):
                value = m.group("value").strip()
                if not value or _PLACEHOLDER.match(value) or value.startswith(("os.", "env", "get", "self.", "%")):
                    continue
                if rx is _PASSWORD and not m.group("q") and not config and _IDENTIFIER.match(value):
                    continue  # `password = expected` in code: a variable, not a literal (in YAML: a literal)
                start = m.start("value") + m.group("value").index(value)
                out.append(Finding("password", "password" if rx is _PASSWORD else "connection_string",
                                   start, start + len(value), value))
    return out


def _key_findings(t: _Text) -> list[Finding]:
    text, out = t.text, []
    if "PRIVATE KEY" in text:
        for m in _PEM.finditer(text):
            body = m.group(2).strip()
            start = m.start(2) + m.group(2).index(body)
            out.append(Finding("private_key", "pem", start, start + len(body), body))
    for plugin, needles, long_token in _plugins():
        for a, b in t.lines_with(needles):
            if long_token and not _LONG.search(text, a, b):
                continue
            out.extend(_plugin_matches(plugin, t.text, a, b))
    for m in _QUOTED.finditer(text):
        s = m.group(2)
        is_hex = bool(_HEX.match(s))
        entropy, limit = _shannon(s), (3.0 if is_hex else 4.5)
        if entropy <= limit or _UUID.match(s) or not looks_random(s):
            continue
        if is_hex and len(s) in (32, 40, 64, 128) and t.near(m.start(), m.end(), _HASH_WORDS, 60):
            continue
        out.append(Finding("key", "hex_high_entropy" if is_hex else "base64_high_entropy", m.start(2), m.end(2), s))
    return out


def _plugin_matches(plugin, text: str, a: int, b: int) -> list[Finding]:
    out, line = [], text[a:b]  # plugin regexes use ^ and $ for line ends
    for rx in plugin.denylist:
        for m in rx.finditer(line):
            # the secret is the longest captured group when it is key-sized, else the whole match
            groups = [i for i in range(1, rx.groups + 1) if m.group(i)]
            g = max(groups, key=lambda i: len(m.group(i)), default=0)
            if len(m.group(g)) <= 8:
                g = 0
            raw = m.group(g)
            value = raw.strip(" \t=:\"'")  # some plugin regexes include the delimiters
            if len(value) <= 8:
                continue
            if plugin.secret_type == "JSON Web Token" and not plugin.is_formally_valid(value):
                continue
            if _UUID.match(value) and plugin.secret_type != "NPM tokens":
                continue
            start = a + m.start(g) + raw.index(value)
            out.append(Finding("key", plugin.secret_type, start, start + len(value), value))
    return out


def find_pii(text: str, config: bool = False) -> list[Finding]:
    """All non-overlapping findings, earliest first; on overlap the longer (then PEM/key) span wins.
    `config`: the text is a configuration file (YAML, INI, .env...), where unquoted values are literals."""
    t = _Text(text)
    found = _key_findings(t) + _password_findings(t, config) + _email_findings(t) + _ip_findings(t)
    rank = {"private_key": 0, "key": 1, "password": 2, "email": 3, "ip_address": 4}
    found.sort(key=lambda f: (-(f.end - f.start), rank[f.kind], f.start))
    taken: list[Finding] = []
    used = bytearray(len(text))
    for f in found:
        if used.find(1, f.start, f.end) == -1:
            taken.append(f)
            used[f.start:f.end] = b"\x01" * (f.end - f.start)
    return sorted(taken, key=lambda f: f.start)


@dataclass
class Redaction:
    """Result of `redact`: the new text and the findings (with the replacement used for each)."""
    text: str
    findings: list[Finding] = field(default_factory=list)
    replacements: dict[str, str] = field(default_factory=dict)  # secret -> what replaced it

    def counts(self) -> Counter:
        return Counter(f.kind for f in self.findings)


def _replacement(f: Finding, seen: dict[str, str]) -> str:
    if f.value in seen:
        return seen[f.value]
    if f.kind == "ip_address":
        pool = SYNTHETIC_IPV6 if ":" in f.value else SYNTHETIC_IPV4
        used = sum(1 for k in seen if (":" in k) == (":" in f.value) and seen[k] in pool)
        rep = pool[used % len(pool)]
    else:
        rep = REPLACEMENT[f.kind]
    seen[f.value] = rep
    return rep


def redact(text: str, mode: str = "redact", config: bool = False) -> Redaction:
    """Replace (mode "redact") or mark (mode "tag": `<PII kind=K>secret</PII>`) every finding."""
    if mode not in ("redact", "tag"):
        raise ValueError(f"PII mode {mode!r} is not one of 'redact', 'tag' (use 'off' to skip the step)")
    findings = find_pii(text, config)
    if not findings:
        return Redaction(text)
    seen: dict[str, str] = {}
    parts, pos = [], 0
    for f in findings:
        rep = _replacement(f, seen)
        parts.append(text[pos:f.start])
        parts.append(rep if mode == "redact" else f"<PII kind={f.kind}>{f.value}</PII>")
        pos = f.end
    parts.append(text[pos:])
    return Redaction("".join(parts), findings, seen)


class PIIRedactor(PipelineStep):
    """datatrove step: redact (or tag) PII in every document; counts `pii_<kind>` and `files_with_pii`.

    With `keep_findings`, `doc.metadata["pii"]` lists {kind, detector, replacement} per finding
    (never the secret itself)."""
    name = "🔒 PII redaction"
    type = "🔐 - PII"

    def __init__(self, mode: str = "redact", keep_findings: bool = False):
        super().__init__()
        if mode not in ("redact", "tag"):
            raise ValueError(f"PII mode {mode!r} is not one of 'redact', 'tag' (use 'off' to leave the step out)")
        self.mode, self.keep_findings = mode, keep_findings

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.stat_update("total")
                result = redact(doc.text, self.mode, is_config_file(doc.metadata.get("path", "")))
                if result.findings:
                    self.stat_update("files_with_pii")
                    for kind, n in result.counts().items():
                        self.stat_update(f"card/pii/{kind}/files")
                        for _ in range(n):  # unit increments: datatrove stores them as plain counts
                            self.stat_update(f"pii_{kind}", f"card/pii/{kind}/findings")
                    doc.text = result.text
                    if self.keep_findings:
                        doc.metadata["pii"] = [{"kind": f.kind, "detector": f.detector,
                                                "replacement": result.replacements[f.value]}
                                               for f in result.findings]
                self.stat_update("forwarded")
            yield doc

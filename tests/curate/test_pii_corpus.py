"""PII quality on a planted corpus (fake-but-well-formed secrets in 7 languages) and on clean code.

The corpus builders here are also used by benchmarks/pii.py (precision/recall per kind).
"""
from __future__ import annotations

import base64
import ipaddress
import json
import random
import re
import string
import sysconfig
from collections import Counter
from pathlib import Path

from starcoder.curate.pii import PUBLIC_DNS, find_pii, redact

ALNUM = string.ascii_letters + string.digits
CATEGORY = {"email": "email", "ipv4": "ip_address", "ipv6": "ip_address", "password": "password",
            "private_key": "private_key"}  # every other planted kind is a "key"
PROVIDER_KEYS = ("aws_access_key", "aws_secret_key", "github", "slack", "stripe", "jwt", "sendgrid",
                 "twilio", "mailchimp")


def _r(rng: random.Random, chars: str, n: int) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _b64url(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _public_ipv4(rng: random.Random) -> str:
    while True:
        ip = f"{rng.choice([23, 34, 35, 52, 54, 81, 91, 104, 141, 185, 213])}.{rng.randint(0, 255)}." \
             f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if ipaddress.ip_address(ip).is_global and ip not in PUBLIC_DNS:
            return ip


def _pem(rng: random.Random) -> str:
    body = base64.b64encode(rng.randbytes(300)).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----"


FIRST = ("anna", "jorge", "li", "fatima", "oleg", "maria", "kenji", "amara", "lucas", "ines")
LAST = ("schmidt", "garcia", "wei", "haddad", "petrov", "rossi", "tanaka", "okafor", "martin", "silva")
DOMAINS = ("gmail.com", "acme-corp.de", "mail.ru", "outlook.com", "uni-heidelberg.de", "startup.io", "yahoo.co.uk")

GENERATORS = {
    "aws_access_key": lambda r: "AKIA" + _r(r, string.ascii_uppercase + string.digits, 16),
    "aws_secret_key": lambda r: _r(r, ALNUM + "/+", 40),
    "github": lambda r: "ghp_" + _r(r, ALNUM, 36),
    "slack": lambda r: f"xoxb-{_r(r, string.digits, 11)}-{_r(r, string.digits, 13)}-{_r(r, ALNUM, 24)}",
    "stripe": lambda r: "sk_live_" + _r(r, ALNUM, 24),
    "jwt": lambda r: ".".join([_b64url({"alg": "HS256", "typ": "JWT"}),
                               _b64url({"sub": str(r.randint(1, 10**9)), "name": r.choice(FIRST), "iat": 1516239022}),
                               _r(r, ALNUM + "-_", 43)]),
    "sendgrid": lambda r: f"SG.{_r(r, ALNUM + '-_', 22)}.{_r(r, ALNUM + '-_', 43)}",
    "twilio": lambda r: "AC" + _r(r, "0123456789abcdef", 32),
    "mailchimp": lambda r: _r(r, "0123456789abcdef", 32) + f"-us{r.randint(1, 20)}",
    "generic_api_key": lambda r: _r(r, ALNUM, 40),
    "private_key": _pem,
    "password": lambda r: _r(r, string.ascii_letters, 5) + _r(r, string.digits, 3) + r.choice("!#%&*") + _r(r, ALNUM, 4),
    "email": lambda r: f"{r.choice(FIRST)}.{r.choice(LAST)}{r.randint(1, 99)}@{r.choice(DOMAINS)}",
    "ipv4": _public_ipv4,
    "ipv6": lambda r: f"2a0{r.randint(0, 9)}:{r.randint(0x1000, 0xffff):x}:{r.randint(1, 0xffff):x}:"
                      f"{r.randint(1, 0xffff):x}::{r.randint(1, 0xffff):x}",
}

# Per language: how a line holds each kind of secret ({v}), plus filler code around it.
TEMPLATES = {
    "py": {"comment": "# {v}", "assign": 'API_TOKEN = "{v}"', "aws_secret_key": 'aws_secret_access_key = "{v}"',
           "password": 'DB_PASSWORD = "{v}"', "email": "# Maintainer: {name} <{v}>", "ip": 'SERVER_HOST = "{v}"',
           "private_key": 'SIGNING_KEY = """{v}"""',
           "filler": 'import hashlib\n\n\ndef checksum(data: bytes) -> str:\n    """sha256 of data."""\n'
                     '    return hashlib.sha256(data).hexdigest()\n\nVERSION = "2.4.1"\nLOCAL = "127.0.0.1"\n'},
    "js": {"comment": "// {v}", "assign": "const apiKey = '{v}';", "aws_secret_key": 'const awsSecretKey = "{v}";',
           "password": 'const dbPassword = "{v}";', "email": "// Contact: {name} <{v}>", "ip": 'const server = "{v}";',
           "private_key": "const privateKey = `{v}`;",
           "filler": "function add(a, b) {\n  return a + b;\n}\nmodule.exports = { add, version: '1.0.3' };\n"},
    "java": {"comment": "// {v}", "assign": 'private static final String TOKEN = "{v}";',
             "aws_secret_key": 'String awsSecretKey = "{v}";', "password": 'String password = "{v}";',
             "email": " * @author {name} ({v})", "ip": 'String host = "{v}";',
             "private_key": 'String pem = """\n{v}\n""";',
             "filler": "public class Config {\n  public static int retries() { return 3; }\n"
                       "  // id: 123e4567-e89b-12d3-a456-426614174000\n}\n"},
    "go": {"comment": "// {v}", "assign": 'var token = "{v}"', "aws_secret_key": 'awsSecretKey := "{v}"',
           "password": 'password := "{v}"', "email": "// Author: {name} <{v}>", "ip": 'addr := "{v}"',
           "private_key": "const key = `{v}`",
           "filler": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("listening on 0.0.0.0:8080")\n}\n'},
    "yaml": {"comment": "# {v}", "assign": "api_key: \"{v}\"", "aws_secret_key": "aws_secret_key: \"{v}\"",
             "password": "password: {v}", "email": "maintainer: {v}", "ip": "server: {v}",
             "private_key": "tls_key: |\n  {v_indented}",
             "filler": "service:\n  name: web\n  image: nginx:1.25.3\n  replicas: 2\n  bind: 10.0.0.12\n"},
    "rb": {"comment": "# {v}", "assign": "TOKEN = '{v}'", "aws_secret_key": "AWS_SECRET_KEY = '{v}'",
           "password": "PASSWORD = '{v}'", "email": "# Email: {v}", "ip": "HOST = '{v}'",
           "private_key": "KEY = <<~PEM\n{v}\nPEM",
           "filler": "class Greeter\n  def greet(name)\n    \"Hello, #{name}\"\n  end\nend\n"},
    "php": {"comment": "// {v}", "assign": "$apiToken = '{v}';", "aws_secret_key": "$awsSecretKey = '{v}';",
            "password": "$password = '{v}';", "email": "// Author: {name} <{v}>", "ip": "$server = '{v}';",
            "private_key": "$key = '{v}';",
            "filler": "<?php\nfunction total(array $xs): int {\n  return array_sum($xs);\n}\n// see user@example.com\n"},
}
KINDS = tuple(GENERATORS)


def _line(lang: str, kind: str, value: str, rng: random.Random) -> str:
    t = TEMPLATES[lang]
    name = f"{rng.choice(FIRST).title()} {rng.choice(LAST).title()}"
    if kind == "email":
        return t["email"].format(v=value, name=name)
    if kind in ("ipv4", "ipv6"):
        return t["ip"].format(v=value)
    if kind == "private_key":  # YAML indents the block; the planted value is what the file holds
        return t["private_key"].format(v=value, v_indented=value.replace("\n", "\n  "))
    if kind in ("password", "aws_secret_key"):
        return t[kind].format(v=value)
    return t["assign"].format(v=value)


def planted_corpus(seed: int = 0, files_per_lang: int = 9, secrets_per_file: int = 3):
    """[(language, text, [(kind, value), ...])] with every kind planted in every language."""
    rng = random.Random(seed)
    out, k = [], 0
    for lang in TEMPLATES:
        for _ in range(files_per_lang):
            planted, lines = [], [TEMPLATES[lang]["filler"]]
            for _ in range(secrets_per_file):
                kind = KINDS[k % len(KINDS)]
                k += 1
                value = GENERATORS[kind](rng)
                lines.append(_line(lang, kind, value, rng))
                if kind == "private_key" and lang == "yaml":
                    value = value.replace("\n", "\n  ")
                planted.append((kind, value))
            out.append((lang, "\n".join(lines) + "\n", planted))
    return out


CLEAN_SNIPPETS = [
    'EXPECTED_SHA256 = "{sha256}"  # sha256 of the release tarball',
    "md5 = '{md5}'  # checksum",
    'commit = "{sha1}"',
    'REQUEST_ID = "{uuid}"',
    "__version__ = '{ver3}'",
    'ANDROID_BUILD = "version {ver4}"',
    'requires = ["numpy>={ver3}", "pandas=={ver3}"]',
    'HOST = "127.0.0.1"',
    'BIND = "0.0.0.0"',
    'DB_HOST = "10.{a}.{b}.{c}"',
    'GATEWAY = "192.168.{a}.1"',
    'dns_servers = ["8.8.8.8", "1.1.1.1"]',
    'ADMIN_EMAIL = "admin@example.com"',
    '# report bugs to bugs@example.org',
    'LOOPBACK6 = "::1"',
    'LINK_LOCAL = "fe80::{a}"',
    'password = os.environ["DB_PASSWORD"]',
    'password = getpass.getpass()',
    'DATABASE_URL = "postgres://user:${{DB_PASSWORD}}@localhost:5432/app"',
    'RELEASED = "2021.03.{a}"',
    'COMMON_NAME_OID = "2.5.4.3"',
    'evens = numbers[{a}::2]',
    'token_type = "Bearer"',
    'api_key = settings.API_KEY',
    'class VeryLongDescriptiveHandlerNameForRequests: pass',
]


def clean_corpus(seed: int = 1, n_crafted: int = 120, n_stdlib: int = 150):
    """Crafted files full of look-alikes, plus standard-library modules without any e-mail address."""
    rng = random.Random(seed)
    files = []
    for _ in range(n_crafted):
        fields = dict(sha256=rng.randbytes(32).hex(), md5=rng.randbytes(16).hex(), sha1=rng.randbytes(20).hex(),
                      uuid=str(__import__("uuid").UUID(bytes=rng.randbytes(16))),
                      ver3=f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}",
                      ver4=f"{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
                      a=rng.randint(1, 250), b=rng.randint(0, 255), c=rng.randint(1, 254))
        lines = [s.format(**fields) for s in rng.sample(CLEAN_SNIPPETS, 8)]
        files.append("import os\nimport getpass\n\n" + "\n".join(lines) + "\n")
    lib = Path(sysconfig.get_paths()["stdlib"])
    any_email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    for p in sorted(lib.glob("*.py")):
        text = p.read_text(encoding="utf-8", errors="replace")
        if not any_email.search(text):
            files.append(text)
        if len(files) >= n_crafted + n_stdlib:
            break
    return files


def score(corpus):
    """Per planted kind: (planted, found); per finding kind: (findings, true positives)."""
    recall, precision = Counter(), Counter()
    for _, text, planted in corpus:
        findings = find_pii(text)
        spans = []
        for kind, value in planted:
            i = text.index(value)
            spans.append((CATEGORY.get(kind, "key"), kind, i, i + len(value)))
        for cat, kind, a, b in spans:
            recall[kind, "planted"] += 1
            recall[kind, "found"] += any(f.kind == cat and f.start < b and f.end > a for f in findings)
        for f in findings:
            precision[f.kind, "findings"] += 1
            precision[f.kind, "tp"] += any(f.kind == cat and f.start < b and f.end > a for cat, _, a, b in spans)
    return recall, precision


def test_corpus_is_big_and_varied():
    corpus = planted_corpus()
    planted = [k for _, _, p in corpus for k, _ in p]
    assert len(planted) >= 60 and len(set(planted)) >= 8 and len({lang for lang, _, _ in corpus}) >= 5


def test_recall_and_precision_on_planted_secrets():
    recall, precision = score(planted_corpus())
    rec = {k: recall[k, "found"] / recall[k, "planted"] for k in KINDS}
    assert rec["email"] >= 0.95, rec
    assert (recall["ipv4", "found"] + recall["ipv6", "found"]) / (
        recall["ipv4", "planted"] + recall["ipv6", "planted"]) >= 0.9, rec
    provider_found = sum(recall[k, "found"] for k in PROVIDER_KEYS)
    assert provider_found / sum(recall[k, "planted"] for k in PROVIDER_KEYS) >= 0.9, rec
    assert rec["private_key"] >= 0.9 and rec["password"] >= 0.9 and rec["generic_api_key"] >= 0.9, rec
    for kind in ("email", "ip_address", "key", "password", "private_key"):
        assert precision[kind, "tp"] / precision[kind, "findings"] >= 0.9, (kind, precision)


def test_clean_code_is_left_alone():
    files = clean_corpus()
    changed = [t for t in files if redact(t).text != t]
    assert len(files) >= 200
    assert len(changed) / len(files) <= 0.02, [find_pii(t)[:3] for t in changed][:5]

"""PII redaction: replacements, guards, tag mode and the datatrove step's counts."""
from __future__ import annotations

import pytest
from datatrove.data import Document

from starcoder.curate.pii import SYNTHETIC_IPV4, SYNTHETIC_IPV6, PIIRedactor, find_pii, looks_random, redact

AWS = "AKIA" + "Q7ZL3MXN5KPB2WRT"
GH = "ghp_" + "k3J9sLq0Xw7ZtR2bN8vY1mC4hG6dF5aE9pQo"


def test_each_kind_gets_its_replacement():
    text = (f'email = "ana.silva@gmail.com"\nkey = "{AWS}"\npassword = "Tr0ub4dor&3"\n'
            f'host = "52.14.101.7"\nv6 = "2a00:1450:4001:82b::200e"\n'
            "pem = '''-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'''\n")
    out = redact(text).text
    assert 'email = "<EMAIL>"' in out and 'key = "<KEY>"' in out and 'password = "<PASSWORD>"' in out
    assert f'host = "{SYNTHETIC_IPV4[0]}"' in out and f'v6 = "{SYNTHETIC_IPV6[0]}"' in out
    assert "-----BEGIN PRIVATE KEY-----\n<KEY>\n-----END PRIVATE KEY-----" in out
    for secret in ("ana.silva", AWS, "Tr0ub4dor", "52.14.101.7", "2a00:1450", "MIIEvQ"):
        assert secret not in out


def test_same_secret_same_replacement_within_a_file():
    text = 'a = "52.14.101.7"\nb = "34.201.5.77"\nc = "52.14.101.7"\nd = "ops.team@acme-corp.de"\n'
    r = redact(text)
    lines = r.text.splitlines()
    assert lines[0] == lines[2].replace("c =", "a =")  # same IP -> same synthetic IP
    assert lines[0] != lines[1].replace("b =", "a =")  # distinct IPs -> distinct synthetic IPs
    assert r.counts() == {"ip_address": 3, "email": 1}


@pytest.mark.parametrize("line", [
    'HOST = "127.0.0.1"', 'GW = "192.168.1.1"', 'NET = "10.3.4.5"', 'DNS = "8.8.8.8"', 'r = "1.1.1.1"',
    '__version__ = "1.2.3.4"', 'pkg == 2.0.10.3', 'OID = "2.5.4.3"', 'MAIL = "someone@example.com"',
    'x = data[10::2]', 'LOOP = "::1"', 'sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    'ID = "123e4567-e89b-12d3-a456-426614174000"', 'password = os.environ["PASSWORD"]', 'password = "<secret>"',
    'password = expected_password', 'NAME = "VeryLongDescriptiveHandlerNameForRequests"',
    'url = "postgres://user:${DB_PASSWORD}@localhost/db"', 'doc = "public DOCUMENTATION net 203.0.113.5"',
])
def test_guards_leave_look_alikes_alone(line):
    assert find_pii(line) == [], find_pii(line)


def test_network_words_override_the_version_guard():
    assert [f.value for f in find_pii('dns_server = "4.2.3.9"')] == ["4.2.3.9"]


def test_detect_secrets_plugins_find_provider_keys():
    text = f'token = "{GH}"\naws = "{AWS}"\nstripe = "sk_live_{"a1B2c3D4" * 3}"\n'
    kinds = {f.detector for f in find_pii(text)}
    assert {"GitHub Token", "AWS Access Key", "Stripe Access Key"} <= kinds


def test_looks_random():
    assert looks_random("xK9mQ2vL8pR4tY7wZ1nB5cF3hJ6dS0aG")
    assert not looks_random("this_is_a_long_identifier_name")
    assert not looks_random("ThisIsCamelCaseWithoutDigits")


def test_tag_mode_marks_without_replacing():
    out = redact('mail = "ana.silva@gmail.com"', mode="tag").text
    assert out == 'mail = "<PII kind=email>ana.silva@gmail.com</PII>"'
    with pytest.raises(ValueError, match="redact"):
        redact("x", mode="scramble")


def test_step_counts_per_kind():
    docs = [Document(text='e = "ana.silva@gmail.com"\nf = "li.wei@outlook.com"', id="a"),
            Document(text="print('clean')", id="b"),
            Document(text=f'k = "{AWS}"', id="c")]
    step = PIIRedactor(keep_findings=True)
    out = list(step.run(iter(docs)))
    stats = {k: v.total for k, v in step.stats.stats.items()}
    assert stats["pii_email"] == 2 and stats["pii_key"] == 1
    assert stats["files_with_pii"] == 2 and stats["total"] == 3
    assert stats["card/pii/email/findings"] == 2 and stats["card/pii/email/files"] == 1
    assert out[0].text == 'e = "<EMAIL>"\nf = "<EMAIL>"' and out[1].text == "print('clean')"
    assert out[2].metadata["pii"] == [{"kind": "key", "detector": "AWS Access Key", "replacement": "<KEY>"}]


def test_unquoted_passwords_in_config_files_are_literals():
    yaml = "db:\n  user: app\n  password: hunter2secret\n"
    assert redact(yaml, config=True).text == "db:\n  user: app\n  password: <PASSWORD>\n"
    assert redact("password = hunter2secret\n").text == "password = hunter2secret\n"  # code: a variable
    step = PIIRedactor()
    docs = [Document(text=yaml, id="a", metadata={"path": "deploy/values.yaml"}),
            Document(text=yaml, id="b", metadata={"path": "app/settings.py"})]
    out = list(step.run(iter(docs)))
    assert "<PASSWORD>" in out[0].text and "hunter2secret" in out[1].text

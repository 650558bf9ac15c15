#!/usr/bin/env python3
"""A second verifier of WaveOS's stored formats, written from docs/formats/*.md alone.

Python 3 standard library plus `cryptography` (ed25519). It shares no code with the daemon, so where the
two agree on every vector the spec is what both implement.

    verify.py journal FILE.db [--pack PACK.tar.gz]...
    verify.py pack FILE.tar.gz [--trusted DIR]
    verify.py bundle FILE.tar --trusted DIR
    verify.py public-key|secret-key|device-pub FILE
    verify.py batch VERDICTS.json      # judges every vector listed (file, kind, trusted), not its verdict
    verify.py jcs JCS.json             # canonicalises every RFC 8785 vector's input

Prints one JSON document: {"valid": bool, "reasons": [code, ...], "messages": [...]} (batch: a list of them
with "file"). Exits 0 when valid (batch: always 0 once it ran), 5 when not, 2 on a usage error.
"""

import base64
import binascii
import hashlib
import json
import os
import posixpath
import re
import sqlite3
import sys
import tarfile
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS = "0" * 64
SEVERITIES = ("info", "notice", "warning", "error", "critical")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
KEY_ID = re.compile(r"^[0-9a-f]{16}$")


class Failure(Exception):
    """A check failed: `code` is the stable name from the spec."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class NoCanonical(Exception):
    """The value has no canonical form (a non-finite number, an unpaired surrogate, not JSON)."""


# ---------------------------------------------------------------- JSON and RFC 8785


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(text):
    """JSON with every number as an IEEE 754 double, as the spec reads it; a repeated name keeps its last value."""
    return json.loads(text, parse_int=lambda s: float(int(s)), parse_float=float, parse_constant=_reject_constant)


def es_number(x):
    """ECMAScript's Number-to-String of a double (RFC 8785 section 3.2.2.3)."""
    if isinstance(x, bool):
        raise NoCanonical("a boolean is not a number")
    try:
        x = float(x)
    except OverflowError as e:
        raise NoCanonical("a number too large for a double") from e
    if x != x or x in (float("inf"), float("-inf")):
        raise NoCanonical(f"{x} is not a JSON number")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    text = repr(x)  # the shortest form that reads back as x
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"


_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def json_string(s, lone_surrogates="refuse"):
    """A string as RFC 8785 writes it; `lone_surrogates="escape"` is format 1's rule (JSON.stringify)."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif c < 0x20:
            out.append(f"\\u{c:04x}")
        elif 0xD800 <= c <= 0xDFFF:
            if lone_surrogates != "escape":
                raise NoCanonical("a string holds an unpaired surrogate")
            out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(name):
    return name.encode("utf-16-be", "surrogatepass")


def jcs(value, lone_surrogates="refuse"):
    """RFC 8785 serialization of a parsed JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return es_number(value)
    if isinstance(value, str):
        return json_string(value, lone_surrogates)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v, lone_surrogates) for v in value) + "]"
    if isinstance(value, dict):
        names = sorted(value.keys(), key=utf16_key)
        return "{" + ",".join(json_string(k, lone_surrogates) + ":" + jcs(value[k], lone_surrogates) for k in names) + "}"
    raise NoCanonical(f"a {type(value).__name__} is not a JSON value")


def legacy_json(value):
    """Format 1's serialization (JSON.stringify, object members sorted): non-finite numbers are null."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(legacy_json(v) for v in value) + "]"
    if isinstance(value, dict):
        names = sorted(value.keys(), key=utf16_key)
        return "{" + ",".join(json_string(k, "escape") + ":" + legacy_json(value[k]) for k in names) + "}"
    return jcs(value, "escape")


# ---------------------------------------------------------------- the journal

BODY_FIELDS = ("v", "seq", "ts", "mono_ms", "run_id", "boot_id", "kind", "severity", "source", "reason", "data")


def canonical_body(e):
    """The text an event's hash covers, by the rule of its version (journal.md)."""
    if e["v"] == 1:
        parts = []
        for f in BODY_FIELDS:
            value = e[f]
            text = legacy_json(value) if f == "data" else (str(value) if f == "v" else jcs(value, "escape"))
            parts.append(json_string(f) + ":" + text)
        return "{" + ",".join(parts) + "}"
    return jcs({f: e[f] for f in BODY_FIELDS})


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class Chain:
    """Checks events one at a time, in seq order (journal.md, checks 1-9)."""

    def __init__(self, from_genesis):
        self.from_genesis = from_genesis
        self.expect = None if not from_genesis else 1
        self.prev = GENESIS if from_genesis else None
        self.version = 0
        self.count = 0
        self.first = None
        self.last = None

    def push(self, e):
        seq = e["seq"]
        if self.first is None:
            self.first = (seq, e["prev_hash"])
            if self.from_genesis and seq != 1:
                raise Failure("seq.start", f"the journal starts at seq {seq}, expected 1")
            if not self.from_genesis:
                self.expect, self.prev = seq, e["prev_hash"]
        if seq != self.expect:
            if seq > self.expect:
                raise Failure("seq.gap", f"seq {self.expect}..{seq - 1} missing")
            raise Failure("seq.back", f"seq {seq} repeats or goes back")
        if e["prev_hash"] != self.prev:
            raise Failure("prev_hash", f"seq {seq}: prev_hash is not the hash of the event before it")
        v = e["v"]
        if isinstance(v, bool) or v not in (1, 2):
            raise Failure("version.unknown", f"seq {seq}: unknown event format version {v!r}")
        if v < self.version:
            raise Failure("version.back", f"seq {seq}: version {v} after version {self.version}")
        if e["severity"] not in SEVERITIES:
            raise Failure("severity", f"seq {seq}: unknown severity {e['severity']!r}")
        data = e["data"]
        if isinstance(data, str):
            try:
                data = parse_json(data)
            except ValueError as err:
                raise Failure("data.invalid", f"seq {seq}: data is not JSON ({err})") from err
        if v == 2 and not isinstance(data, dict):
            raise Failure("data.invalid", f"seq {seq}: data is not a JSON object")
        try:
            body = canonical_body({**e, "v": int(v), "data": data})
        except NoCanonical as err:
            raise Failure("canonical", f"seq {seq}: no canonical form: {err}") from err
        if sha256_hex((self.prev + body).encode("utf-8")) != e["hash"]:
            raise Failure("hash", f"seq {seq}: hash does not match the event's content")
        self.prev, self.expect, self.version = e["hash"], seq + 1, v
        self.count += 1
        self.last = (seq, e["hash"])


def pack_anchors(pack):
    """The chain points a signed pack records (journal.md, checks 13-14): (seq, hash), highest first."""
    problems = []
    seen = read_pack(pack, problems)
    raw = seen.get("MANIFEST.json")
    if raw is None or problems:
        raise Failure("anchor", f"{pack}: not a readable evidence pack")
    m = json.loads(raw.decode("utf-8"))
    if check_pack_manifest(m):
        raise Failure("anchor", f"{pack}: not a valid manifest")
    pub = b64decode(m["device"]["public_key"])
    sig = b64decode(seen.get("MANIFEST.sig", b"").decode("ascii").strip())
    if len(pub) != 32 or len(sig) != 64 or not ed25519_ok(pub, raw, sig) or m["device"]["key_id"] != "ed25519:" + key_id(pub):
        raise Failure("anchor", f"{pack}: the manifest's signature does not verify")
    j = m["journal"]
    points = []
    if j["first_seq"] is not None and j["first_seq"] > 1:
        points.append((j["first_seq"] - 1, j["anchor_prev_hash"]))
    if j["last_seq"] is not None:
        points.append((j["last_seq"], j["last_hash"]))
    if "head_seq" in j and "head_hash" in j:
        points.append((j["head_seq"], j["head_hash"]))
    return sorted(points, reverse=True)


def check_anchors(db, last, anchors):
    for seq, want in anchors:
        if seq == 0:
            continue
        if seq > last:
            raise Failure("tail.truncated", f"seq {last + 1}..{seq} missing at the tail (an evidence pack records seq {seq})")
        row = db.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        if row is None or row[0] != want:
            raise Failure("anchor", f"the event at seq {seq} is not the one an evidence pack records")


def verify_journal(path, packs=()):
    anchors = sorted((a for p in packs for a in pack_anchors(p)), reverse=True)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = [r[1] for r in db.execute("PRAGMA table_info(events)")]
        if not columns:
            raise Failure("data.invalid", f"{path}: no events table")
        has_v = "v" in columns
        names = list(BODY_FIELDS[1:]) + ["prev_hash", "hash"]
        select = ", ".join(names) + (", v" if has_v else ", 1")
        chain = Chain(from_genesis=True)
        for row in db.execute(f"SELECT {select} FROM events ORDER BY seq"):
            e = dict(zip(names, row[:-1]))
            e["v"] = row[-1]
            chain.push(e)
        has_head = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_head'").fetchone()
        if not has_head:
            check_anchors(db, (chain.last or (0, GENESIS))[0], anchors)
            return ["the tail is not anchored: no journal_head (a journal from before the head mark)"]
        mark = db.execute("SELECT seq, hash FROM journal_head WHERE id = 1").fetchone()
        if mark is None:
            raise Failure("tail.truncated", "journal_head has no row")
        last, head = chain.last or (0, GENESIS)
        if mark[0] > last:
            raise Failure("tail.truncated", f"seq {last + 1}..{mark[0]} missing at the tail")
        if mark[0] < last:
            raise Failure("tail.extra", f"seq {mark[0] + 1}..{last} are past the head mark")
        if mark[1] != head:
            raise Failure("tail.hash", "the head mark's hash is not the last event's")
        check_anchors(db, last, anchors)
        return [f"{chain.count} events, head mark at seq {mark[0]}"]
    finally:
        db.close()


# ---------------------------------------------------------------- keys


def b64decode(text):
    return base64.b64decode(text, validate=True)


def key_id(pub):
    return sha256_hex(pub)[:16]


def read_public_key_json(path):
    """A bundle key's .pub (keys.md): exactly key_id, algorithm, public_key."""
    try:
        doc = json.loads(open(path, encoding="utf-8").read())
    except (ValueError, OSError) as err:
        raise Failure("members", f"{path}: not JSON") from err
    if not isinstance(doc, dict) or set(doc) != {"key_id", "algorithm", "public_key"}:
        raise Failure("members", f"{path}: members must be exactly key_id, algorithm, public_key")
    if doc["algorithm"] != "ed25519":
        raise Failure("algorithm", f"{path}: algorithm {doc['algorithm']!r}")
    try:
        pub = b64decode(doc["public_key"])
    except (binascii.Error, TypeError) as err:
        raise Failure("public_key.length", f"{path}: public_key is not base64") from err
    if len(pub) != 32:
        raise Failure("public_key.length", f"{path}: public_key is {len(pub)} bytes")
    if not isinstance(doc["key_id"], str) or not KEY_ID.match(doc["key_id"]) or doc["key_id"] != key_id(pub):
        raise Failure("key_id.mismatch", f"{path}: key_id is not the key's")
    return doc["key_id"], pub


def read_secret_key(path):
    doc = json.loads(open(path, encoding="utf-8").read())
    if not isinstance(doc, dict) or set(doc) != {"key_id", "algorithm", "secret_key"} or doc["algorithm"] != "ed25519":
        raise Failure("members", f"{path}: members must be exactly key_id, algorithm (ed25519), secret_key")
    secret = b64decode(doc["secret_key"])
    if len(secret) != 64:
        raise Failure("secret_key.length", f"{path}: secret_key is {len(secret)} bytes")
    derived = Ed25519PrivateKey.from_private_bytes(secret[:32]).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if derived != secret[32:]:
        raise Failure("secret_key.pair", f"{path}: the public half does not belong to the seed")
    if doc["key_id"] != key_id(derived):
        raise Failure("key_id.mismatch", f"{path}: key_id is not the key's")
    return doc["key_id"]


def read_any_public_key(text):
    """What `evidence verify --keys` reads from a .pub: JSON public_key, or the first word of the first line."""
    t = text.strip()
    if t.startswith("{"):
        try:
            v = json.loads(t).get("public_key")
        except (ValueError, AttributeError):
            return None
        return read_any_public_key(v) if isinstance(v, str) else None
    lines = [l.strip() for l in t.split("\n") if l.strip() and not l.strip().startswith("#")]
    if not lines:
        return None
    words = lines[0].split()
    word = words[0]
    try:
        raw = bytes.fromhex(word) if re.match(r"^[0-9a-fA-F]{64}$", word) else b64decode(word)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32:
        return None
    if len(words) > 1 and re.match(r"^ed25519:[0-9a-f]{16}$", words[1]) and words[1] != "ed25519:" + key_id(raw):
        raise Failure("key_id.mismatch", "the key id after the key is another key's")
    return raw


def trusted_device_keys(folder):
    keys = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pub"):
            try:
                k = read_any_public_key(open(os.path.join(folder, name), encoding="utf-8").read())
            except Failure:
                k = None
            if k:
                keys.append(k)
    return keys


def trusted_bundle_keys(folder):
    keys = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pub"):
            try:
                kid, pub = read_public_key_json(os.path.join(folder, name))
                keys[kid] = pub
            except (Failure, ValueError, KeyError):
                pass
    return keys


def ed25519_ok(pub, message, signature):
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


# ---------------------------------------------------------------- evidence packs

PACK_MANIFEST_TYPES = {
    "format": str, "schema_version": int, "name": str, "created_at": str, "reason": str, "trigger": str,
    "requested_by": str, "window": dict, "device": dict, "waveos": dict, "run_id": str, "runs": list,
    "journal": dict, "metrics": dict, "logs": list, "files": list, "notes": list,
}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_pack_manifest(m):
    if not isinstance(m, dict):
        return "not a JSON object"
    for name, kind in PACK_MANIFEST_TYPES.items():
        if not isinstance(m.get(name), kind) or (kind is int and not is_int(m.get(name))):
            return f"{name} missing or not a {kind.__name__}"
    if m["format"] != "waveos-evidence" or m["schema_version"] != 1:
        return "format/schema_version"
    if "incident" not in m or not (m["incident"] is None or isinstance(m["incident"], dict)):
        return "incident"
    dev = m["device"]
    if not all(isinstance(dev.get(k), str) for k in ("device_id", "app_id", "environment", "public_key", "key_id")):
        return "device"
    j = m["journal"]
    if not is_int(j.get("events")) or not isinstance(j.get("chain_verified"), bool):
        return "journal"
    for k in ("first_seq", "last_seq"):
        if not (j.get(k) is None or is_int(j.get(k))):
            return f"journal.{k}"
    for k in ("anchor_prev_hash", "last_hash"):
        if not (j.get(k) is None or (isinstance(j.get(k), str) and HEX64.match(j[k]))):
            return f"journal.{k}"
    if "head_seq" in j and not is_int(j["head_seq"]):
        return "journal.head_seq"
    if "head_hash" in j and not (isinstance(j["head_hash"], str) and HEX64.match(j["head_hash"])):
        return "journal.head_hash"
    for f in m["files"]:
        if not (isinstance(f, dict) and isinstance(f.get("path"), str) and is_int(f.get("size")) and isinstance(f.get("sha256"), str) and HEX64.match(f["sha256"])):
            return "files[]"
    return None


def verify_events_stretch(text, j, problems):
    chain = Chain(from_genesis=False)
    for number, line in enumerate(l for l in text.split("\n") if l):
        try:
            e = json.loads(line, parse_int=lambda s: float(int(s)) if len(s) > 15 else int(s), parse_float=float, parse_constant=_reject_constant)
        except ValueError:
            problems.append(("chain.line", f"events.jsonl line {number + 1} is not JSON"))
            return
        if not isinstance(e, dict) or not is_int(e.get("seq")) or not isinstance(e.get("prev_hash"), str) or not isinstance(e.get("hash"), str):
            problems.append(("chain.line", f"events.jsonl line {number + 1} is not an event"))
            return
        if any(f not in e for f in BODY_FIELDS):
            problems.append(("chain.line", f"events.jsonl line {number + 1} lacks a body member"))
            return
        try:
            chain.push(e)
        except Failure as f:
            problems.append(("chain." + f.code, f"events.jsonl: {f.message}"))
            return
    if chain.count != j["events"]:
        problems.append(("chain.count", f"{chain.count} events, the manifest says {j['events']}"))
    elif chain.count > 0:
        if chain.first != (j["first_seq"], j["anchor_prev_hash"]):
            problems.append(("chain.anchor", "the first event is not the manifest's first_seq / anchor_prev_hash"))
        if chain.last != (j["last_seq"], j["last_hash"]):
            problems.append(("chain.last", "the last event is not the manifest's last_seq / last_hash"))


def read_pack(path, problems):
    seen = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if member.isdir():
                    continue
                if not member.isreg():
                    problems.append(("entry.type", f"{name}: not a regular file"))
                    continue
                data = tar.extractfile(member).read()
                if name in seen:
                    problems.append(("file.duplicate", f"{name} appears twice"))
                seen[name] = data
    except (tarfile.TarError, OSError, EOFError) as err:
        problems.append(("archive.unreadable", f"not a readable gzip'd tar: {err}"))
    return seen


def verify_pack(path, trusted_dir=None):
    problems = []
    seen = read_pack(path, problems)
    raw = seen.get("MANIFEST.json")
    if raw is None:
        problems.append(("manifest.missing", "no MANIFEST.json"))
        return problems
    try:
        m = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        m = None
    why = check_pack_manifest(m) if m is not None else "not JSON"
    if why:
        problems.append(("manifest.invalid", f"MANIFEST.json: {why}"))
        return problems
    try:
        pub = b64decode(m["device"]["public_key"])
    except binascii.Error:
        pub = b""
    sig_text = seen.get("MANIFEST.sig")
    if sig_text is None:
        problems.append(("signature.missing", "no MANIFEST.sig"))
    else:
        try:
            sig = b64decode(sig_text.decode("ascii").strip())
        except (binascii.Error, UnicodeDecodeError):
            sig = b""
        if len(sig) != 64 or len(pub) != 32 or not ed25519_ok(pub, raw, sig):
            problems.append(("signature.invalid", "MANIFEST.sig is not the device key's signature of MANIFEST.json"))
    if m["device"]["key_id"] != "ed25519:" + key_id(pub):
        problems.append(("key_id.mismatch", "device.key_id is not the key id of device.public_key"))
    if trusted_dir is not None and pub not in trusted_device_keys(trusted_dir):
        problems.append(("signature.untrusted", f"signed by {m['device']['key_id']}, not a trusted key"))
    listed = set()
    for f in m["files"]:
        listed.add(f["path"])
        data = seen.get(f["path"])
        if data is None:
            problems.append(("file.missing", f"{f['path']} is listed but missing"))
        elif len(data) != f["size"]:
            problems.append(("file.size", f"{f['path']}: {len(data)} bytes, the manifest says {f['size']}"))
        elif sha256_hex(data) != f["sha256"]:
            problems.append(("file.hash", f"{f['path']}: sha256 differs from the manifest"))
    for name in seen:
        if name not in listed and name not in ("MANIFEST.json", "MANIFEST.sig"):
            problems.append(("file.extra", f"{name} is not listed"))
    j = m["journal"]
    if "events.jsonl" in seen:
        verify_events_stretch(seen["events.jsonl"].decode("utf-8"), j, problems)
    if "head_seq" in j:
        if j["head_seq"] < (j["last_seq"] or 0):
            problems.append(("head.behind", "head_seq is before last_seq"))
        elif j["head_seq"] == j["last_seq"] and "head_hash" in j and j["head_hash"] != j["last_hash"]:
            problems.append(("head.behind", "head_hash differs from last_hash at the same seq"))
    return problems


# ---------------------------------------------------------------- bundles

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
KINDS = ("app", "config", "certs", "policy", "waveos")
ENTRY_MEMBERS = {"file": {"type", "path", "size", "mode", "sha256"}, "dir": {"type", "path", "mode"}, "symlink": {"type", "path", "target"}}
MANIFEST_REQUIRED = {"schema_version", "bundle_id", "kind", "name", "version", "created_at", "key_id", "files"}
MANIFEST_OPTIONAL = {"waveos_version", "policy_version", "expires_at", "description", "app"}


def unsafe_path(p):
    if not isinstance(p, str) or p == "" or len(p) > 4096:
        return "is empty or too long"
    if p.startswith("/"):
        return "is absolute"
    if "\0" in p or "\\" in p:
        return "contains NUL or a backslash"
    parts = p.split("/")
    if ".." in parts:
        return 'contains ".."'
    if any(s in ("", ".") for s in parts):
        return "is not normalized"
    return None


def reject(check, message):
    raise Failure(check, message)


def check_entry(f):
    if not isinstance(f, dict) or f.get("type") not in ENTRY_MEMBERS or set(f) != ENTRY_MEMBERS[f["type"]]:
        reject("manifest.invalid", f"files[]: a malformed entry {f!r}")
    why = unsafe_path(f["path"])
    if why:
        reject("path.unsafe", f"files[]: path {f['path']!r} {why}")
    if "mode" in f and not (is_int(f["mode"]) and 0 <= f["mode"] <= 0o7777):
        reject("manifest.invalid", f"{f['path']}: mode must be an integer 0..4095")
    if f["type"] == "file" and not (is_int(f["size"]) and f["size"] >= 0 and isinstance(f["sha256"], str) and HEX64.match(f["sha256"])):
        reject("manifest.invalid", f"{f['path']}: size/sha256")
    if f["type"] == "symlink" and not (isinstance(f["target"], str) and 0 < len(f["target"]) <= 4096):
        reject("manifest.invalid", f"{f['path']}: target")


def check_bundle_schema(m):
    if not isinstance(m, dict):
        reject("manifest.invalid", "the manifest is not an object")
    if not MANIFEST_REQUIRED <= set(m) or not set(m) <= MANIFEST_REQUIRED | MANIFEST_OPTIONAL:
        reject("manifest.invalid", f"members: missing {sorted(MANIFEST_REQUIRED - set(m))}, unknown {sorted(set(m) - MANIFEST_REQUIRED - MANIFEST_OPTIONAL)}")
    if m["schema_version"] not in (1, 2) or isinstance(m["schema_version"], bool):
        reject("manifest.invalid", "schema_version")
    if not isinstance(m["bundle_id"], str) or not HEX64.match(m["bundle_id"]):
        reject("manifest.invalid", "bundle_id")
    if m["kind"] not in KINDS or not isinstance(m["name"], str) or not IDENT.match(m["name"]):
        reject("manifest.invalid", "kind/name")
    if not isinstance(m["version"], str) or not SEMVER.match(m["version"]):
        reject("manifest.invalid", "version")
    for k in ("created_at", "expires_at"):
        if k in m and not (isinstance(m[k], str) and DATETIME.match(m[k])):
            reject("manifest.invalid", k)
    if not isinstance(m["key_id"], str) or not KEY_ID.match(m["key_id"]):
        reject("manifest.invalid", "key_id")
    if not isinstance(m["files"], list):
        reject("manifest.invalid", "files")
    for f in m["files"]:
        check_entry(f)


def resolve_in_tree(entries, path):
    """Follows `path` through the declared tree as the kernel would; returns why it leaves it, or None."""
    hops, at, todo = 0, [], path.split("/")
    while todo:
        c = todo.pop(0)
        if c == "":
            continue
        if at:
            here = entries.get("/".join(at))
            if here is None:
                return f"goes through {'/'.join(at)}, which is not in the bundle"
            if here["type"] != "dir":
                return f"goes through {'/'.join(at)}, which is not a folder"
        if c == ".":
            continue
        if c == "..":
            if not at:
                return 'climbs above the payload with ".."'
            at.pop()
            continue
        at.append(c)
        e = entries.get("/".join(at))
        if e is None or e["type"] != "symlink":
            continue
        hops += 1
        if hops > 40:
            return "follows more than 40 links"
        if e["target"].startswith("/"):
            return "points at an absolute path"
        at.pop()
        todo = e["target"].split("/") + todo
    p = "/".join(at)
    if p and p not in entries:
        return f"ends at {p}, which is not in the bundle"
    return None


def check_tree(m):
    by_path = {}
    for f in m["files"]:
        if f["path"] in by_path:
            reject("entry.duplicate", f"{f['path']} is listed twice")
        by_path[f["path"]] = f
    tree = dict(by_path)
    for f in m["files"]:
        if m["schema_version"] == 1 and f["type"] == "dir":
            reject("manifest.invalid", "schema_version 1 cannot list folders")
        parts = f["path"].split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            e = by_path.get(parent)
            if e is not None and e["type"] != "dir":
                reject("path.through_symlink", f"{f['path']} lies below {parent}, a {e['type']}")
            if e is None and m["schema_version"] != 1:
                reject("manifest.parent", f"{f['path']}: its folder {parent} is not listed")
            if e is None:
                tree[parent] = {"type": "dir", "path": parent, "mode": 0o755}
    for f in m["files"]:
        if f["type"] == "symlink":
            if f["target"].startswith("/"):
                reject("path.symlink_escape", f"symlink {f['path']} points at an absolute path")
            lexical = posixpath.normpath(posixpath.join(posixpath.dirname(f["path"]), f["target"]))
            if lexical == ".." or lexical.startswith("../"):
                reject("path.symlink_escape", f"symlink {f['path']} points outside the payload")
            why = resolve_in_tree(tree, f["path"])
            if why:
                reject("path.symlink_escape", f"symlink {f['path']} {why}")
    return by_path


def check_bundle_manifest(m_bytes, s_bytes, keys, now):
    try:
        sigs = json.loads(s_bytes.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        reject("format.signature", "manifest.sig is not JSON")
    if not (isinstance(sigs, dict) and set(sigs) == {"signatures"} and isinstance(sigs["signatures"], list) and 1 <= len(sigs["signatures"]) <= 16):
        reject("format.signature", "manifest.sig is malformed")
    signed_by, invalid, unknown = [], [], []
    for s in sigs["signatures"]:
        if not (isinstance(s, dict) and set(s) == {"key_id", "sig"} and isinstance(s["key_id"], str) and KEY_ID.match(s["key_id"]) and isinstance(s["sig"], str)):
            reject("format.signature", "manifest.sig has a malformed entry")
        pub = keys.get(s["key_id"])
        if pub is None:
            unknown.append(s["key_id"])
            continue
        try:
            sig = b64decode(s["sig"])
        except binascii.Error:
            sig = b""
        if len(sig) == 64 and ed25519_ok(pub, m_bytes, sig):
            if s["key_id"] not in signed_by:
                signed_by.append(s["key_id"])
        else:
            invalid.append(s["key_id"])
    if invalid:
        reject("signature.invalid", f"the signature by trusted key {', '.join(invalid)} does not match manifest.json")
    if not signed_by:
        reject("signature.unknown_key", f"signed by {', '.join(unknown)}, not a trusted key")
    try:
        m = json.loads(m_bytes.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        reject("manifest.invalid", "manifest.json is not JSON")
    check_bundle_schema(m)
    if m["key_id"] not in signed_by:
        reject("signature.key_id", f"manifest.json names key {m['key_id']}, which did not sign it")
    rest = {k: v for k, v in m.items() if k != "bundle_id"}
    try:
        canonical = jcs(rest)
    except NoCanonical as err:
        reject("manifest.invalid", f"the manifest has no RFC 8785 form: {err}")
    if sha256_hex(canonical.encode("utf-8")) != m["bundle_id"]:
        reject("manifest.bundle_id", "bundle_id is not the sha256 of the canonical manifest")
    if "expires_at" in m:
        expires = datetime.fromisoformat(m["expires_at"].replace("Z", "+00:00"))
        if expires <= now:
            reject("expired", f"the bundle expired at {m['expires_at']}")
    return m, check_tree(m)


COMPRESSED = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd"}


def check_member(member, rel, listed, links, seen):
    p = member.name
    why = unsafe_path(rel)
    if why:
        reject("path.unsafe", f"member {p} {why}")
    parts = rel.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in links:
            reject("path.through_symlink", f"member {p} lies below a symlink")
    if rel in seen:
        reject("entry.duplicate", f"member {p} appears twice")
    seen.add(rel)
    if member.islnk():
        reject("entry.hardlink", f"member {p} is a hard link")
    if member.ischr() or member.isblk() or member.isfifo():
        reject("entry.device", f"member {p} is a device node or FIFO")
    kind = "dir" if member.isdir() else "symlink" if member.issym() else "file" if member.isreg() else None
    if kind is None:
        reject("entry.unsupported", f"member {p} has an unsupported type")
    if kind == "symlink":
        lexical = posixpath.normpath(posixpath.join(posixpath.dirname(rel), member.linkname))
        if member.linkname.startswith("/") or lexical == ".." or lexical.startswith("../"):
            reject("path.symlink_escape", f"symlink {p} points outside the payload")
    m = listed.get(rel)
    if m is None:
        reject("file.extra", f"member {p} is not listed in the manifest")
    if m["type"] != kind:
        reject("entry.type", f"member {p} is a {kind}; the manifest lists a {m['type']}")
    if kind != "symlink" and (member.mode & 0o7777) != m["mode"]:
        reject("entry.mode", f"member {p} has mode {oct(member.mode & 0o7777)}; the manifest says {oct(m['mode'])}")
    return kind, m


def verify_bundle(path, trusted_dir, now=None):
    now = now or datetime.now(timezone.utc)
    with open(path, "rb") as fh:
        head = fh.read(6)
    for name, magic in COMPRESSED.items():
        if head.startswith(magic):
            reject("format.compressed", f"the bundle is {name}-compressed; a bundle is a plain tar")
    keys = trusted_bundle_keys(trusted_dir)
    try:
        tar = tarfile.open(path, mode="r:")
    except tarfile.TarError as err:
        reject("format.tar", f"not a tar: {err}")
    with tar:
        members = iter(tar)
        heads = []
        for want in ("manifest.json", "manifest.sig"):
            member = next(members, None)
            if member is None or member.name != want or not member.isreg():
                reject("format.order", f"a bundle starts with manifest.json then manifest.sig (got {member.name if member else 'nothing'})")
            heads.append(tar.extractfile(member).read())
        _m, listed = check_bundle_manifest(heads[0], heads[1], keys, now)
        seen, links = set(), set()
        for member in members:
            p = member.name
            if p in ("payload", "payload/"):
                if not member.isdir():
                    reject("entry.unsupported", "payload must be a directory")
                continue
            if p.startswith("/"):
                reject("path.absolute", f"member {p} has an absolute path")
            if ".." in p.split("/"):
                reject("path.dotdot", f"member {p} has a '..' component")
            if not p.startswith("payload/"):
                reject("file.extra", f"member {p} is outside payload/")
            rel = p[len("payload/"):].rstrip("/") if member.isdir() else p[len("payload/"):]
            kind, m = check_member(member, rel, listed, links, seen)
            if kind == "symlink":
                if member.linkname != m["target"]:
                    reject("hash.symlink", f"symlink {p} target differs from the manifest")
                links.add(rel)
            elif kind == "file":
                if member.size != m["size"]:
                    reject("hash.size", f"member {p} is {member.size} bytes; the manifest says {m['size']}")
                if sha256_hex(tar.extractfile(member).read()) != m["sha256"]:
                    reject("hash.sha256", f"member {p} has another sha256 than the manifest says")
        missing = [f for f in listed if f not in seen]
        if missing:
            reject("file.missing", f"{len(missing)} listed entries are missing, first payload/{missing[0]}")
    return ["valid"]


# ---------------------------------------------------------------- the command


def judge(kind, path, trusted=None, packs=()):
    """{"valid", "reasons", "messages"} for one file."""
    try:
        if kind == "journal":
            return {"valid": True, "reasons": [], "messages": verify_journal(path, packs)}
        if kind == "pack":
            problems = verify_pack(path, trusted)
            return {"valid": not problems, "reasons": [p[0] for p in problems], "messages": [p[1] for p in problems]}
        if kind == "bundle":
            return {"valid": True, "reasons": [], "messages": verify_bundle(path, trusted)}
        if kind == "public-key":
            kid, _ = read_public_key_json(path)
            return {"valid": True, "reasons": [], "messages": [f"key {kid}"]}
        if kind == "secret-key":
            return {"valid": True, "reasons": [], "messages": [f"key {read_secret_key(path)}"]}
        if kind == "device-pub":
            key = read_any_public_key(open(path, encoding="utf-8").read())
            if key is None:
                raise Failure("public_key.length", "no 32-byte public key")
            return {"valid": True, "reasons": [], "messages": [f"key ed25519:{key_id(key)}"]}
    except Failure as f:
        return {"valid": False, "reasons": [f.code], "messages": [f.message]}
    raise SystemExit(f"unknown kind {kind!r}")


def main(argv):
    args = argv[1:]
    trusted = None
    packs = []
    while "--pack" in args:
        i = args.index("--pack")
        packs.append(args[i + 1])
        del args[i : i + 2]
    if "--trusted" in args:
        i = args.index("--trusted")
        trusted = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    kind, path = args
    if kind == "batch":
        base = os.path.dirname(os.path.abspath(path))
        vectors = json.load(open(path, encoding="utf-8"))["vectors"]
        out = []
        for v in vectors:
            t = os.path.join(base, v["trusted"]) if v.get("trusted") else None
            out.append({"file": v["file"], **judge(v["kind"], os.path.join(base, v["file"]), t)})
        print(json.dumps(out, indent=1))
        return 0
    if kind == "jcs":
        out = []
        for v in json.load(open(path, encoding="utf-8"))["vectors"]:
            try:
                out.append({"name": v["name"], "output": jcs(parse_json(v["input"]))})
            except (NoCanonical, ValueError, OverflowError) as err:
                out.append({"name": v["name"], "error": str(err)})
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    if kind == "bundle" and trusted is None:
        print("bundle needs --trusted DIR", file=sys.stderr)
        return 2
    result = judge(kind, path, trusted, packs)
    print(json.dumps(result))
    return 0 if result["valid"] else 5


if __name__ == "__main__":
    sys.exit(main(sys.argv))

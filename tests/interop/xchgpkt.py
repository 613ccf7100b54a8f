#!/usr/bin/env python3
"""A second implementation of the xchg packet format (formats/PACKET.md, version 2).

Written from the specification alone, with Python's standard library and
libsodium (through ctypes) for Ed25519ph, so that xchg's own reader and writer
can be checked against something that does not share their code.

    xchgpkt.py read PKT (--key-line LINE | --key-file F) [--to-line LINE]
                    [--plan PLAN.json] [--json] [--message-out FILE]
        reads a packet, checks it as the spec says a reader must, and prints
        its header and entities; exit 0 when it verifies, 4 when it is refused
        ("refused PKT: reason" on stderr). --to-line also checks that the
        packet is addressed to that node, --plan the entity types and children;
        --seed-hex (the recipient's seed) opens a sealed packet.
    xchgpkt.py write --seed-hex HEX --code CODE --id UUID --to-line LINE
                     --packet-no N [--ack A] [--schema-version V]
                     [--entities FILE.json] [--seal] --out DIR
        writes packet N from this node to the node of the key line and prints
        its path. FILE.json is an array of entities in the wire form
        ({"type", "uuid", "operation", "updated_at", "data"}); values are
        mapped as section 3.3 says (a 64-bit integer becomes a string).
    xchgpkt.py keyline --seed-hex HEX --code CODE --id UUID
        prints this node's key line, for `xchg node add --key LINE`.

Exit status: 0 done, 2 bad arguments, 4 packet refused, 5 file not readable
or writable (xchg's own codes).
"""

import argparse
import base64
import ctypes
import ctypes.util
import datetime
import io
import json
import math
import os
import re
import stat
import struct
import sys
import uuid as uuidlib
import zipfile
import zlib

PACKET_FORMAT = 2
MEMBERS = ("message.json", "message.sig")
SIG_BYTES = 64
MAX_JSON = 4 << 30          # inflated message.json
MAX_HEADER = 64 << 10       # the header object
MAX_ENTITY = 64 << 20       # one entity
MAX_DEPTH = 32              # nesting of JSON; the top-level object is level 1
MAX_INT = 1 << 53
CODE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
VERSION_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\Z")   # written
SCHEMA_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\Z")                                # read
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
OPERATIONS = ("INSERT", "UPDATE", "DELETE", "EVICT")
HEADER_REQUIRED = ("sender_node_id", "recipient_node_id", "packet_no", "ack_packet_no",
                   "schema_version", "packet_format", "message_id", "sender_code",
                   "recipient_code", "created_at")
HEADER_KNOWN = HEADER_REQUIRED + ("key_chain",)
ENTITY_KNOWN = ("type", "uuid", "operation", "updated_at", "data")


class Refused(Exception):
    """The packet must be refused; the message says why."""


class Usage(Exception):
    """Bad arguments or input."""


# ---------------------------------------------------------------- libsodium

def _load_sodium():
    for name in ("libsodium.so.23", ctypes.util.find_library("sodium")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if lib.sodium_init() < 0:
            raise OSError("sodium_init failed")
        lib.crypto_sign_ed25519ph_statebytes.restype = ctypes.c_size_t
        lib.crypto_sign_ed25519ph_update.argtypes = (ctypes.c_void_p, ctypes.c_char_p,
                                                     ctypes.c_ulonglong)
        return lib
    raise OSError("libsodium not found (install libsodium23 or libsodium-dev)")


_sodium = None


def sodium():
    global _sodium
    if _sodium is None:
        _sodium = _load_sodium()
    return _sodium


class Ed25519ph:
    """crypto_sign_ed25519ph_*: Ed25519ph (RFC 8032, phflag 1, empty context)."""

    def __init__(self):
        self._lib = sodium()
        self._state = ctypes.create_string_buffer(self._lib.crypto_sign_ed25519ph_statebytes())
        self._lib.crypto_sign_ed25519ph_init(self._state)

    def update(self, data):
        self._lib.crypto_sign_ed25519ph_update(self._state, bytes(data), len(data))

    def verify(self, sig, pk):
        if len(sig) != SIG_BYTES or len(pk) != 32:
            return False
        return self._lib.crypto_sign_ed25519ph_final_verify(self._state, sig, pk) == 0

    def sign(self, sk):
        sig = ctypes.create_string_buffer(SIG_BYTES)
        if self._lib.crypto_sign_ed25519ph_final_create(self._state, sig, None, sk) != 0:
            raise OSError("crypto_sign_ed25519ph_final_create failed")
        return sig.raw


def keypair_from_seed(seed):
    if len(seed) != 32:
        raise Usage("a seed is 32 bytes (64 hexadecimal digits)")
    pk = ctypes.create_string_buffer(32)
    sk = ctypes.create_string_buffer(64)
    if sodium().crypto_sign_seed_keypair(pk, sk, seed) != 0:
        raise OSError("crypto_sign_seed_keypair failed")
    return pk.raw, sk.raw


# ---------------------------------------------------------------- sealed packets (section 8)

SEAL_MAGIC = b"xchg-sealed-packet/1\n"
SEAL_PREFIX = b"xchg-sealed-packet/"
SEAL_HEADER = 133           # magic 21, recipient key 32, sealed payload key 80
CHUNK = 65536
CHUNK_SEALED = CHUNK + 16   # ciphertext and Poly1305 tag


def _x25519_pair(seed):
    """The X25519 key pair of the node whose Ed25519 seed this is (section 8.2)."""
    pk, sk = keypair_from_seed(seed)
    xpk, xsk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    if (sodium().crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0
            or sodium().crypto_sign_ed25519_sk_to_curve25519(xsk, sk) != 0):
        raise OSError("crypto_sign_ed25519_*_to_curve25519 failed")
    return pk, xpk.raw, xsk.raw


def _chunk_nonce(i, last):
    return i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def seal(payload, recipient_key):
    """The sealed file's bytes: payload (a plain packet) sealed to recipient_key
    (its Ed25519 public key)."""
    lib = sodium()
    xpk = ctypes.create_string_buffer(32)
    if lib.crypto_sign_ed25519_pk_to_curve25519(xpk, recipient_key) != 0:
        raise Usage("the recipient's key has no X25519 form")
    key = ctypes.create_string_buffer(32)
    lib.randombytes_buf(key, ctypes.c_size_t(32))
    boxed = ctypes.create_string_buffer(80)
    if lib.crypto_box_seal(boxed, key, ctypes.c_ulonglong(32), xpk) != 0:
        raise OSError("crypto_box_seal failed")
    header = SEAL_MAGIC + recipient_key + boxed.raw
    out = [header]
    n = max(1, -(-len(payload) // CHUNK))
    for i in range(n):
        m = payload[i * CHUNK:(i + 1) * CHUNK]
        c = ctypes.create_string_buffer(len(m) + 16)
        clen = ctypes.c_ulonglong()
        lib.crypto_aead_chacha20poly1305_ietf_encrypt(
            c, ctypes.byref(clen), m, ctypes.c_ulonglong(len(m)), header,
            ctypes.c_ulonglong(len(header)), None, _chunk_nonce(i, i == n - 1), key)
        out.append(c.raw[:clen.value])
    return b"".join(out)


def unseal(data, seed):
    """A sealed file's payload, opened with the recipient's seed, after the
    checks of section 8.2 ("Reading"); raises Refused."""
    lib = sodium()
    if not data.startswith(SEAL_MAGIC):
        version = data[len(SEAL_PREFIX):].split(b"\n", 1)[0][:16]
        raise Refused("a sealed packet of layout %r; this reader knows layout 1 only"
                      % version.decode("ascii", "replace"))
    if len(data) < SEAL_HEADER:
        raise Refused("truncated: %d bytes, shorter than the %d-byte header of a sealed packet"
                      % (len(data), SEAL_HEADER))
    if seed is None:
        raise Refused("sealed to key %s; give that node's seed to open it"
                      % base64.b64encode(data[21:53]).decode())
    pk, xpk, xsk = _x25519_pair(seed)
    if data[21:53] != pk:
        raise Refused("sealed to another node's key %s, not to this node's (%s)"
                      % (base64.b64encode(data[21:53]).decode(), base64.b64encode(pk).decode()))
    header = data[:SEAL_HEADER]
    key = ctypes.create_string_buffer(32)
    if lib.crypto_box_seal_open(key, data[53:133], ctypes.c_ulonglong(80), xpk, xsk) != 0:
        raise Refused("its payload key does not open with this node's key")
    body = len(data) - SEAL_HEADER
    n = -(-body // CHUNK_SEALED)
    last = body - (n - 1) * CHUNK_SEALED
    if body == 0 or last < 16 or (last == 16 and n > 1):
        raise Refused("truncated: the payload ends inside a chunk or holds an empty last chunk")
    out = []
    for i in range(n):
        c = data[SEAL_HEADER + i * CHUNK_SEALED:SEAL_HEADER + (i + 1) * CHUNK_SEALED]
        m = ctypes.create_string_buffer(max(1, len(c) - 16))
        mlen = ctypes.c_ulonglong()
        if lib.crypto_aead_chacha20poly1305_ietf_decrypt(
                m, ctypes.byref(mlen), None, c, ctypes.c_ulonglong(len(c)), header,
                ctypes.c_ulonglong(len(header)), _chunk_nonce(i, i == n - 1), key) != 0:
            raise Refused("chunk %d of %d (counted from 0) does not authenticate "
                          "(altered, damaged or truncated)" % (i, n))
        out.append(m.raw[:mlen.value])
    return b"".join(out)


# ---------------------------------------------------------------- key lines

class KeyLine:
    """CODE ID BASE64KEY (section 4): three fields separated by single spaces."""

    def __init__(self, code, node_id, key):
        self.code, self.id, self.key = code, node_id, key

    @classmethod
    def parse(cls, text):
        line = text[:-1] if text.endswith("\n") else text
        fields = line.split(" ")
        if len(fields) != 3:
            raise Usage("a key line is CODE ID KEY, three fields separated by single spaces: %r" % text)
        code, node_id, b64 = fields
        if not CODE_RE.match(code):
            raise Usage("key line: %r is not a node code (1 to 64 of A-Z a-z 0-9 . _ -)" % code)
        if not ID_RE.match(node_id):
            raise Usage("key line: %r is not a node id in canonical UUID form" % node_id)
        try:
            key = base64.b64decode(b64, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32 or base64.b64encode(key).decode() != b64:
            raise Usage("key line: %r is not the base64 of a 32-byte key" % b64)
        return cls(code, node_id, key)

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.count("\n") > 1 or (text.count("\n") == 1 and not text.endswith("\n")):
            raise Usage("%s: a key file holds one key line" % path)
        return cls.parse(text)

    def __str__(self):
        return "%s %s %s" % (self.code, self.id, base64.b64encode(self.key).decode())


# ---------------------------------------------------------------- reading JSON

def _no_constants(name):
    raise ValueError("%s is not JSON" % name)


class _Obj(list):
    """A JSON object as the decoder read it: its (name, value) members in order,
    duplicates included, so that the checks below decide which are errors."""


_DECODER = json.JSONDecoder(object_pairs_hook=_Obj, parse_constant=_no_constants)
_WS = " \t\n\r"


def _skip_ws(s, i):
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _value(s, i, what):
    try:
        return _DECODER.raw_decode(s, i)
    except ValueError as e:
        raise Refused("%s is not valid JSON (%s)" % (what, e)) from None


def _expect(s, i, ch, what):
    i = _skip_ws(s, i)
    if i >= len(s) or s[i] != ch:
        got = repr(s[i]) if i < len(s) else "the end"
        raise Refused("%s: expected %r at character %d, found %s" % (what, ch, i, got))
    return i + 1


def _check_text(t, what):
    if "\x00" in t:
        raise Refused("%s: a string holds U+0000" % what)
    for ch in t:
        if "\ud800" <= ch <= "\udfff":
            raise Refused("%s: a string holds an unpaired surrogate" % what)


def _depth_and_text(v, depth, what):
    """Checks every string of v, and that v's arrays and objects nest at most
    MAX_DEPTH deep, depth being the level of v itself (the top-level object is 1)."""
    if isinstance(v, str):
        _check_text(v, what)
        return
    if isinstance(v, float) and math.isinf(v):
        raise Refused("%s: a number beyond the range of a double" % what)
    if not isinstance(v, list):
        return
    if depth > MAX_DEPTH:
        raise Refused("%s: JSON nested deeper than %d levels" % (what, MAX_DEPTH))
    if isinstance(v, _Obj):
        for name, item in v:
            _check_text(name, what)
            _depth_and_text(item, depth + 1, what)
    else:
        for item in v:
            _depth_and_text(item, depth + 1, what)


def _members(obj, known, what):
    """The known members of an object as a dict; a known member twice is an error,
    unknown members are ignored."""
    out = {}
    for name, value in obj:
        if name in known:
            if name in out:
                raise Refused("%s: member %r given twice" % (what, name))
            out[name] = value
    return out


def _plain(v):
    """A parsed value as plain Python (dicts, lists), for printing and callers."""
    if isinstance(v, _Obj):
        return {name: _plain(item) for name, item in v}
    if isinstance(v, list):
        return [_plain(item) for item in v]
    return v


def _integer(v, lo, what):
    if type(v) is not int or v < lo or v > MAX_INT:
        raise Refused("%s must be an integer from %d to 2^53, not %s" % (what, lo, json.dumps(_plain(v))))
    return v


def _string(v, what):
    if not isinstance(v, str):
        raise Refused("%s must be a string, not %s" % (what, json.dumps(_plain(v))))
    return v


def check_header(obj):
    what = "header"
    if not isinstance(obj, _Obj):
        raise Refused("header is not an object")
    h = _members(obj, HEADER_KNOWN, what)
    missing = [m for m in HEADER_REQUIRED if m not in h]
    if "packet_format" in missing:
        raise Refused("header has no packet_format: a packet of format 1 (or older); "
                      "this reader needs format %d" % PACKET_FORMAT)
    if missing:
        raise Refused("header lacks %s" % ", ".join(missing))
    if type(h["packet_format"]) is not int or h["packet_format"] != PACKET_FORMAT:
        raise Refused("header.packet_format is %s; this reader knows format %d only"
                      % (json.dumps(_plain(h["packet_format"])), PACKET_FORMAT))
    for m in ("sender_node_id", "recipient_node_id"):
        if not ID_RE.match(_string(h[m], "header." + m)):
            raise Refused("header.%s %r is not a UUID in canonical form" % (m, h[m]))
    for m in ("sender_code", "recipient_code"):
        if not CODE_RE.match(_string(h[m], "header." + m)):
            raise Refused("header.%s %r is not a node code" % (m, h[m]))
    _integer(h["packet_no"], 1, "header.packet_no")
    _integer(h["ack_packet_no"], 0, "header.ack_packet_no")
    if not SCHEMA_RE.match(_string(h["schema_version"], "header.schema_version")):
        raise Refused("header.schema_version %r is not MAJOR.MINOR.PATCH" % h["schema_version"])
    # message_id and created_at are for people and logs: a reader needs neither,
    # and checks only that they are strings (writers follow TIME_RE and ID_RE).
    _string(h["message_id"], "header.message_id")
    _string(h["created_at"], "header.created_at")
    if "key_chain" in h:
        chain = h["key_chain"]
        if not isinstance(chain, list) or isinstance(chain, _Obj) or len(chain) > 16:
            raise Refused("header.key_chain must be an array of at most 16 links")
    return _plain(_Obj((k, obj_v) for k, obj_v in obj if k in HEADER_KNOWN))


def _check_data_value(name, v, what, child=False):
    if type(v) is int and abs(v) > MAX_INT:
        raise Refused("%s: %s is the integer %d, beyond 2^53, which travels as a string"
                      % (what, name, v))
    if isinstance(v, _Obj):
        raise Refused("%s: data.%s is an object where a column value belongs" % (what, name))
    if isinstance(v, list):
        if child:
            raise Refused("%s: a child row's %s is an array" % (what, name))
        for row in v:   # children: an array of child rows
            if not isinstance(row, _Obj):
                raise Refused("%s: data.%s is an array, but not of child rows" % (what, name))
            cols = {}
            for cname, cval in row:
                if cname in cols:
                    raise Refused("%s: a child row in data.%s names %r twice" % (what, name, cname))
                cols[cname] = cval
                _check_data_value(cname, cval, what, child=True)
            u = cols.get("uuid")
            if not isinstance(u, str) or not 1 <= len(u.encode()) <= 64:
                raise Refused("%s: a child row in data.%s lacks a uuid" % (what, name))


def check_entity(obj, n):
    what = "entity %d" % n
    if not isinstance(obj, _Obj):
        raise Refused("%s is not an object" % what)
    e = _members(obj, ENTITY_KNOWN, what)
    for m in ("type", "uuid", "operation", "data"):
        if m not in e:
            raise Refused("%s lacks %s" % (what, m))
    _string(e["type"], what + ".type")
    u = _string(e["uuid"], what + ".uuid")
    if not 1 <= len(u.encode()) <= 64:
        raise Refused("%s.uuid must be 1 to 64 bytes" % what)
    what = "entity %d (%s %s)" % (n, e["type"], u)
    if e["operation"] not in OPERATIONS:
        raise Refused("%s: operation %s is not INSERT, UPDATE, DELETE or EVICT"
                      % (what, json.dumps(_plain(e["operation"]))))
    ts = e.get("updated_at")
    if ts is not None and not isinstance(ts, str):
        raise Refused("%s: updated_at must be a string or null" % what)
    data = e["data"]
    if e["operation"] in ("DELETE", "EVICT"):
        if data is not None:
            raise Refused("%s: a %s carries data null" % (what, e["operation"]))
    else:
        if not isinstance(data, _Obj):
            raise Refused("%s: an %s carries an object as data" % (what, e["operation"]))
        seen = set()
        for name, v in data:
            if name in seen:
                raise Refused("%s: data names column %r twice" % (what, name))
            seen.add(name)
            if name in ("uuid", "updated_at", "is_deleted"):
                raise Refused("%s: data holds %r, which travels in the entity itself" % (what, name))
            _check_data_value(name, v, what)
    return {"type": e["type"], "uuid": u, "operation": e["operation"],
            "updated_at": ts, "data": _plain(data)}


def _each_member(s, i, where, take):
    """Walks the object at s[i], calling take(name, i) at each member's value;
    take returns the index after the value. Returns the index after '}'."""
    i = _expect(s, i, "{", where)
    first = True
    while True:
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == "}":
            return i + 1
        if not first:
            i = _expect(s, i, ",", where)
        first = False
        i = _skip_ws(s, i)
        name, i = _value(s, i, where)
        if not isinstance(name, str):
            raise Refused("%s: a member name is not a string" % where)
        i = _expect(s, i, ":", where)
        i = take(name, _skip_ws(s, i))


def parse_message(raw):
    """message.json's bytes -> (header, [entities]) after every check of
    sections 3 and 5; raises Refused."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused("message.json is not valid UTF-8 (byte %d)" % e.start) from None
    found = {}

    def take(name, i):
        if name == "header":
            if "header" in found:
                raise Refused("message.json: member 'header' given twice")
            if "body" in found:
                raise Refused("message.json: body comes before header")
            start = i
            obj, i = _value(s, i, "header")
            if len(s[start:i].encode()) > MAX_HEADER:
                raise Refused("the header is larger than 64 KiB")
            _depth_and_text(obj, 2, "header")
            found["header"] = check_header(obj)
        elif name == "body":
            if "body" in found:
                raise Refused("message.json: member 'body' given twice")
            if "header" not in found:
                raise Refused("message.json: body comes before header")
            i, found["body"] = _parse_body(s, i)
        else:   # an unknown member: skipped
            v, i = _value(s, i, "message.json member %r" % name)
            _depth_and_text(v, 2, "message.json member %r" % name)
        return i

    i = _each_member(s, 0, "message.json", take)
    if _skip_ws(s, i) != len(s):
        raise Refused("message.json: data after the end of the object")
    if "header" not in found:
        raise Refused("message.json has no header")
    if "body" not in found:
        raise Refused("message.json has no body")
    return found["header"], found["body"]


def _parse_body(s, i):
    """body: an object whose member entities is an array, parsed one entity at a time."""
    found = []

    def take(name, i):
        if name != "entities":
            v, i = _value(s, i, "body member %r" % name)
            _depth_and_text(v, 3, "body member %r" % name)
            return i
        if found:
            raise Refused("body: member 'entities' given twice")
        entities = []
        found.append(entities)
        i = _expect(s, i, "[", "body.entities")
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == "]":
            return i + 1
        while True:
            i = _skip_ws(s, i)
            start = i
            obj, i = _value(s, i, "entity %d" % (len(entities) + 1))
            if len(s[start:i].encode()) > MAX_ENTITY:
                raise Refused("entity %d is larger than 64 MiB" % (len(entities) + 1))
            _depth_and_text(obj, 4, "entity %d" % (len(entities) + 1))
            entities.append(check_entity(obj, len(entities) + 1))
            i = _skip_ws(s, i)
            if i < len(s) and s[i] == "]":
                return i + 1
            i = _expect(s, i, ",", "body.entities")

    i = _each_member(s, i, "body", take)
    if not found:
        raise Refused("body has no entities")
    return i, found[0]


def follow_key_chain(key, header):
    """Section 4.1: from the registered key, follow each link whose previous_key is
    the current key, checking its plain Ed25519 signature with that key; links
    before the registered key are skipped. Returns the key the walk ends at."""
    for n, link in enumerate(header.get("key_chain", []), 1):
        if not isinstance(link, dict) or not all(
                isinstance(link.get(m), str) for m in ("previous_key", "public_key", "signature")):
            raise Refused("key_chain link %d lacks previous_key, public_key or signature" % n)
        if link["previous_key"] != base64.b64encode(key).decode():
            continue
        try:
            new = base64.b64decode(link["public_key"], validate=True)
            sig = base64.b64decode(link["signature"], validate=True)
        except ValueError:
            raise Refused("key_chain link %d is not base64" % n) from None
        if len(new) != 32 or len(sig) != SIG_BYTES:
            raise Refused("key_chain link %d: a key is 32 bytes, a signature 64" % n)
        msg = ("xchg-key-rotation-v1\n%s\n%s\n%s\n" % (
            header["sender_code"], link["previous_key"], link["public_key"])).encode()
        if sodium().crypto_sign_verify_detached(sig, msg, ctypes.c_ulonglong(len(msg)), key) != 0:
            raise Refused("key_chain link %d does not verify" % n)
        key = new
    return key


# ---------------------------------------------------------------- reading the archive

def _regular(info):
    if info.filename.endswith("/"):
        return False
    if info.external_attr & 0x10:   # the MS-DOS directory bit
        return False
    if info.create_system == 3:   # Unix: the mode is in the high 16 bits; no type bits
        return stat.S_IFMT(info.external_attr >> 16) in (0, stat.S_IFREG)   # means a file
    return True


ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
              ValueError, NotImplementedError, RuntimeError, struct.error)


def _read_archive(f):
    """The archive's checks of section 2; returns the parsed message, its bytes,
    the signature and the Ed25519ph state that has seen message.json."""
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if names != list(MEMBERS):
            raise Refused("the archive holds %s, not exactly message.json then message.sig"
                          % (", ".join(map(repr, names)) or "nothing"))
        jinfo, sinfo = infos
        if not jinfo.header_offset < sinfo.header_offset:
            raise Refused("message.sig comes before message.json in the archive")
        for info in infos:
            if not _regular(info):
                raise Refused("%s is not a regular file" % info.filename)
            if info.flag_bits & 0x1:
                raise Refused("%s is encrypted" % info.filename)
        for info in infos:   # writers deflate message.json; a reader takes either
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise Refused("%s is neither stored nor deflated (method %d)"
                              % (info.filename, info.compress_type))
        if jinfo.file_size > MAX_JSON:
            raise Refused("message.json says it inflates past 4 GiB")
        ph = Ed25519ph()
        buf = io.BytesIO()
        with zf.open(jinfo) as m:   # reading to the end checks the CRC-32
            while True:
                chunk = m.read(1 << 16)
                if not chunk:
                    break
                if buf.tell() + len(chunk) > MAX_JSON:
                    raise Refused("message.json inflates past 4 GiB")
                ph.update(chunk)
                buf.write(chunk)
        with zf.open(sinfo) as m:
            sig = m.read(SIG_BYTES + 1)
    if len(sig) != SIG_BYTES:
        raise Refused("message.sig holds %d bytes, not 64" % len(sig))
    raw = buf.getvalue()
    header, entities = parse_message(raw)
    return header, entities, raw, sig, ph


def _local_columns(spec):
    """The columns of an entity or child that never travel (formats/PLAN.md,
    "What travels"): id unless shared_id, and local_columns."""
    local = set(spec.get("local_columns", []))
    if not spec.get("shared_id"):
        local.add("id")
    return local


def check_plan(entities, plan):
    """What only a node that knows the plan (formats/PLAN.md) can check: each
    entity's type is the plan's, arrays in data are its children, and neither
    data nor a child row names a column that stays local, or a child's link to
    its parent."""
    types = {e["type"]: e for e in plan["entities"]}
    for n, e in enumerate(entities, 1):
        what = "entity %d (%s %s)" % (n, e["type"], e["uuid"])
        spec = types.get(e["type"])
        if spec is None:
            raise Refused("%s: %s is not an entity type of the plan" % (what, e["type"]))
        kids = {c["name"]: c for c in spec.get("children", [])}
        local = _local_columns(spec)
        for name, v in (e["data"] or {}).items():
            if name in kids:
                kid = kids[name]
                if not isinstance(v, list):
                    raise Refused("%s: %s, a child of %s, is not an array" % (what, name, e["type"]))
                for row in v:
                    for col in row:
                        if col == kid["parent_column"]:
                            raise Refused("%s: a child row in %s names %s, which links it to the "
                                          "parent and never travels" % (what, name, col))
                        if col in _local_columns(kid):
                            raise Refused("%s: a child row in %s names %s, which stays local"
                                          % (what, name, col))
            elif isinstance(v, list):
                raise Refused("%s: %s is an array, but not a child of %s in the plan"
                              % (what, name, e["type"]))
            elif name in local:
                raise Refused("%s: data names %s, which stays local" % (what, name))


def read_packet(path, key_line, to_line=None, plan=None, seed=None):
    """Reads and checks the packet at path against the sender's key line (and the
    recipient's key line and the plan, when given); a sealed packet is opened
    with seed, the recipient's. Returns (header, entities, message_json_bytes,
    sealed); raises Refused with the reason."""
    with open(path, "rb") as f:   # a file that cannot be read is not a refusal
        data = f.read()
    sealed = data.startswith(SEAL_PREFIX)   # by its first bytes, never by its name
    if sealed:
        data = unseal(data, seed)
    try:
        header, entities, raw, sig, ph = _read_archive(io.BytesIO(data))
    except ZIP_ERRORS as e:
        raise Refused("not a readable ZIP archive: damaged or truncated (%s)" % e) from None
    if header["sender_node_id"] != key_line.id:
        raise Refused("sender_node_id %s is not %s, the id of the key line given (%s)"
                      % (header["sender_node_id"], key_line.id, key_line.code))
    if header["sender_code"] != key_line.code:
        raise Refused("sender_code %s is not %s, the code registered with id %s"
                      % (header["sender_code"], key_line.code, key_line.id))
    key = follow_key_chain(key_line.key, header)
    if not ph.verify(sig, key):
        raise Refused("the signature does not verify against %s's key%s" % (
            key_line.code, "" if key == key_line.key else " (as rotated by key_chain)"))
    if to_line is not None:
        if header["recipient_node_id"] != to_line.id:
            raise Refused("recipient_node_id %s is not %s (%s)"
                          % (header["recipient_node_id"], to_line.id, to_line.code))
        if header["recipient_code"] != to_line.code:
            raise Refused("recipient_code %s is not %s" % (header["recipient_code"], to_line.code))
    if plan is not None:
        check_plan(entities, plan)
    return header, entities, raw, sealed


# ---------------------------------------------------------------- writing

def _json_value(v, what):
    """A column value in the form of section 3.3."""
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        return json.dumps(v) if abs(v) <= MAX_INT else json.dumps(str(v))
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return "null"
        return repr(v)   # the shortest form that reads back, always with '.' or 'e'
    if isinstance(v, str):
        return _json_text(v, what)
    raise Usage("%s: a %s has no form in a packet" % (what, type(v).__name__))


def _json_text(t, what):
    if "\x00" in t or any("\ud800" <= ch <= "\udfff" for ch in t):
        raise Usage("%s: text must be valid UTF-8 without NUL characters" % what)
    return json.dumps(t, ensure_ascii=False)


def _json_data(data, what):
    parts = []
    for name, v in data.items():
        if name in ("uuid", "updated_at", "is_deleted"):
            raise Usage("%s: %r travels in the entity's own members, not in data" % (what, name))
        if isinstance(v, list):   # a child table: rows ordered by uuid
            rows = []
            for row in v:
                if not isinstance(row, dict) or not isinstance(row.get("uuid"), str):
                    raise Usage("%s: every child row in %r is an object with a uuid" % (what, name))
                rows.append(row)
            rows.sort(key=lambda r: r["uuid"].encode())
            enc = ",".join("{" + ",".join("%s:%s" % (_json_text(c, what), _json_value(cv, what))
                                           for c, cv in row.items()) + "}"
                           for row in rows)
            parts.append("%s:[%s]" % (_json_text(name, what), enc))
        elif isinstance(v, dict):
            raise Usage("%s: %r is an object where a column value belongs" % (what, name))
        else:
            parts.append("%s:%s" % (_json_text(name, what), _json_value(v, what)))
    return "{" + ",".join(parts) + "}"


def _json_entity(e, n):
    what = "entity %d" % n
    if not isinstance(e, dict):
        raise Usage("%s is not an object" % what)
    typ, u, op = e.get("type"), e.get("uuid"), e.get("operation")
    if not isinstance(typ, str) or not typ:
        raise Usage("%s: type must be a string" % what)
    if not isinstance(u, str) or not 1 <= len(u.encode()) <= 64:
        raise Usage("%s: uuid must be a string of 1 to 64 bytes" % what)
    if op not in OPERATIONS:
        raise Usage("%s: operation must be INSERT, UPDATE, DELETE or EVICT" % what)
    ts = e.get("updated_at")
    if ts is not None and not isinstance(ts, str):
        raise Usage("%s: updated_at must be a string or null" % what)
    data = e.get("data")
    if op in ("DELETE", "EVICT"):
        if data is not None:
            raise Usage("%s: a %s carries data null" % (what, op))
        data_json = "null"
    else:
        if not isinstance(data, dict):
            raise Usage("%s: an %s carries an object as data" % (what, op))
        data_json = _json_data(data, "%s (%s %s)" % (what, typ, u))
    return '{"type":%s,"uuid":%s,"operation":"%s","updated_at":%s,"data":%s}' % (
        _json_text(typ, what), _json_text(u, what), op,
        "null" if ts is None else _json_text(ts, what), data_json)


def now_utc():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def build_message(sender, recipient, packet_no, ack, schema_version, entities,
                  created_at=None, message_id=None):
    """message.json's bytes: header first, a newline after it and after each entity."""
    created_at = created_at or now_utc()
    message_id = message_id or str(uuidlib.uuid4())
    if not TIME_RE.match(created_at):
        raise Usage("created_at %r is not like 2026-11-25T09:30:00.123Z" % created_at)
    if not ID_RE.match(message_id):
        raise Usage("message id %r is not a UUID in canonical form" % message_id)
    if not VERSION_RE.match(schema_version):
        raise Usage("schema version %r is not MAJOR.MINOR.PATCH" % schema_version)
    if not 1 <= packet_no <= MAX_INT or not 0 <= ack <= MAX_INT:
        raise Usage("packet number from 1, acknowledgement from 0, both at most 2^53")
    header = ('{"sender_node_id":"%s","recipient_node_id":"%s","packet_no":%d,'
              '"ack_packet_no":%d,"schema_version":"%s","packet_format":%d,'
              '"message_id":"%s","sender_code":"%s","recipient_code":"%s","created_at":"%s"}'
              % (sender.id, recipient.id, packet_no, ack, schema_version, PACKET_FORMAT,
                 message_id, sender.code, recipient.code, created_at))
    lines = [_json_entity(e, n) for n, e in enumerate(entities, 1)]
    text = '{"header":%s,\n"body":{"entities":[\n%s]}}\n' % (
        header, "".join(line + (",\n" if n < len(lines) else "\n") for n, line in enumerate(lines, 1)))
    return text.encode("utf-8"), created_at


def _zip_info(name, created_at, compress):
    t = datetime.datetime.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    # DOS time has no zone: the writer's local time, as zip(1) writes it.
    info = zipfile.ZipInfo(name, date_time=t.astimezone().timetuple()[:6])
    info.compress_type = compress
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    # Info-ZIP extended timestamp (0x5455): flags 1 (mtime), the same instant as Unix time.
    info.extra = b"\x55\x54\x05\x00\x01" + int(t.timestamp()).to_bytes(4, "little")
    return info


def write_packet(out_dir, seed, sender, recipient, packet_no, ack, schema_version,
                 entities, created_at=None, message_id=None, raw_message=None, sealed=False):
    """Writes pkt_SENDER_RECIPIENT_N.zip (sealed: .zip.sealed) into out_dir
    (hidden temporary first, then renamed) and returns its path. raw_message,
    when given, is signed and stored as message.json as it is (tests of what a
    reader refuses)."""
    pk, sk = keypair_from_seed(seed)
    if pk != sender.key:
        raise Usage("the seed's public key is not the sender's key line")
    if raw_message is None:
        message, created_at = build_message(sender, recipient, packet_no, ack, schema_version,
                                            entities, created_at, message_id)
    else:
        message, created_at = raw_message, created_at or now_utc()
    ph = Ed25519ph()
    ph.update(message)
    sig = ph.sign(sk)
    name = "pkt_%s_%s_%d.zip%s" % (sender.code, recipient.code, packet_no,
                                   ".sealed" if sealed else "")
    final = os.path.join(out_dir, name)
    tmp = os.path.join(out_dir, "." + name + ".tmp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(_zip_info("message.json", created_at, zipfile.ZIP_DEFLATED), message)
        zf.writestr(_zip_info("message.sig", created_at, zipfile.ZIP_STORED), sig)
    data = seal(buf.getvalue(), recipient.key) if sealed else buf.getvalue()
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return final


# ---------------------------------------------------------------- the command line

def _print_packet(header, entities, as_json):
    if as_json:
        dump = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        print(dump({"header": header}))
        for e in entities:
            print(dump(e))
        return
    dump = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    print("header " + " ".join("%s=%s" % (k, dump(v) if not isinstance(v, str) else v)
                               for k, v in header.items()))
    for e in entities:
        print("entity %s %s %s %s %s" % (e["type"], e["uuid"], e["operation"],
                                         e["updated_at"] or "null", dump(e["data"])))


def _key_arg(args, parser):
    if bool(args.key_line) == bool(args.key_file):
        parser.error("give the sender's key as --key-line LINE or --key-file FILE")
    if args.key_file:
        return KeyLine.from_file(args.key_file)
    return KeyLine.parse(args.key_line)


def _seed(hexseed):
    try:
        seed = bytes.fromhex(hexseed)
    except ValueError:
        raise Usage("--seed-hex: not hexadecimal") from None
    if len(seed) != 32:
        raise Usage("--seed-hex: a seed is 32 bytes, 64 hexadecimal digits")
    return seed


def _self_line(args):
    pk, _ = keypair_from_seed(_seed(args.seed_hex))
    line = KeyLine(args.code, args.id, pk)
    return KeyLine.parse(str(line))   # checks code and id


def main(argv=None):
    p = argparse.ArgumentParser(prog="xchgpkt.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read", help="read and verify a packet, print header and entities")
    r.add_argument("packet")
    r.add_argument("--key-line", help="the sender's key line: CODE ID BASE64KEY")
    r.add_argument("--key-file", help="a file holding the sender's key line")
    r.add_argument("--to-line", help="the recipient's key line: also check the packet is addressed to it")
    r.add_argument("--seed-hex", help="the recipient's own seed: opens a sealed packet (section 8)")
    r.add_argument("--plan", metavar="PLAN.json",
                   help="the exchange plan: also check entity types and children against it")
    r.add_argument("--message-out", metavar="FILE",
                   help="once it verifies, write message.json's exact bytes to FILE")
    r.add_argument("--json", action="store_true",
                   help="print {\"header\":…} and then each entity as one JSON object a line")
    w = sub.add_parser("write", help="write a signed packet")
    w.add_argument("--seed-hex", required=True, help="this node's Ed25519 seed, 64 hex digits")
    w.add_argument("--code", required=True, help="this node's code")
    w.add_argument("--id", required=True, help="this node's id (a UUID)")
    w.add_argument("--to-line", required=True, help="the recipient's key line")
    w.add_argument("--packet-no", type=int, required=True)
    w.add_argument("--ack", type=int, default=0, help="ack_packet_no (default 0)")
    w.add_argument("--schema-version", default="1.0.0")
    w.add_argument("--entities", help="a JSON file: an array of entities (default: none)")
    w.add_argument("--created-at", help="created_at (default: now)")
    w.add_argument("--message-id", help="message_id (default: a fresh UUID)")
    w.add_argument("--raw-message", metavar="FILE",
                   help="store FILE's bytes as message.json, signed, instead of building it "
                        "(for tests of what a reader refuses)")
    w.add_argument("--seal", action="store_true",
                   help="seal the packet to the recipient's key (PKT.zip.sealed, section 8)")
    w.add_argument("--out", required=True, help="the folder to write into")
    k = sub.add_parser("keyline", help="print this node's key line")
    k.add_argument("--seed-hex", required=True)
    k.add_argument("--code", required=True)
    k.add_argument("--id", required=True)
    args = p.parse_args(argv)

    try:
        if args.cmd == "keyline":
            print(_self_line(args))
            return 0
        if args.cmd == "write":
            sender = _self_line(args)
            recipient = KeyLine.parse(args.to_line)
            entities = []
            if args.entities:
                with open(args.entities, encoding="utf-8") as f:
                    entities = json.load(f)
                if not isinstance(entities, list):
                    raise Usage("%s: not a JSON array of entities" % args.entities)
            raw = None
            if args.raw_message:
                with open(args.raw_message, "rb") as f:
                    raw = f.read()
            print(write_packet(args.out, _seed(args.seed_hex), sender, recipient, args.packet_no,
                               args.ack, args.schema_version, entities, args.created_at,
                               args.message_id, raw, args.seal))
            return 0
        key = _key_arg(args, r)
        to = KeyLine.parse(args.to_line) if args.to_line else None
        plan = None
        if args.plan:
            with open(args.plan, encoding="utf-8") as f:
                plan = json.load(f)
        try:
            header, entities, raw, _ = read_packet(args.packet, key, to, plan,
                                                   _seed(args.seed_hex) if args.seed_hex else None)
        except Refused as e:
            print("refused %s: %s" % (args.packet, e), file=sys.stderr)
            return 4
        if args.message_out:
            with open(args.message_out, "wb") as f:
                f.write(raw)
        _print_packet(header, entities, args.json)
        return 0
    except Usage as e:
        print("xchgpkt.py %s: %s" % (args.cmd, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("xchgpkt.py %s: %s" % (args.cmd, e), file=sys.stderr)
        return 5


if __name__ == "__main__":
    sys.exit(main())

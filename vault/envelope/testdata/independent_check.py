# Independent check of the envelope formats in vault/envelope/doc.go: opens
# the X25519 wrapped keys of the envelopes in the JSON files given as
# arguments with RFC 9180 written from scratch (hashlib/hmac) and the
# cryptography package's X25519 and AES-GCM, and prints the batch KEK
# known answer of TestFormatsAreFrozen.
#
#   cd vault/envelope/testdata && python3 independent_check.py *.json
import json, hmac, hashlib, sys
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

def extract(salt, ikm): return hmac.new(salt or b"\0"*32, ikm, hashlib.sha256).digest()
def expand(prk, info, L):
    out, t, i = b"", b"", 1
    while len(out) < L:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:L]
def i2osp(n, l): return n.to_bytes(l, "big")
def lextract(suite, salt, label, ikm): return extract(salt, b"HPKE-v1" + suite + label + ikm)
def lexpand(suite, prk, label, info, L): return expand(prk, i2osp(L, 2) + b"HPKE-v1" + suite + label + info, L)

KEM_X25519 = 0x20
kem_suite = b"KEM" + i2osp(KEM_X25519, 2)

def derive_x25519(ikm):
    prk = lextract(kem_suite, b"", b"dkp_prk", ikm)
    sk = lexpand(kem_suite, prk, b"sk", b"", 32)
    return X25519PrivateKey.from_private_bytes(sk)

def decap(sk, enc):
    dh = sk.exchange(X25519PublicKey.from_public_bytes(enc))
    pkRm = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    prk = lextract(kem_suite, b"", b"eae_prk", dh)
    return lexpand(kem_suite, prk, b"shared_secret", enc + pkRm, 32)

def key_schedule(ss, info, aead_id):
    suite = b"HPKE" + i2osp(KEM_X25519, 2) + i2osp(1, 2) + i2osp(aead_id, 2)
    psk_id_hash = lextract(suite, b"", b"psk_id_hash", b"")
    info_hash = lextract(suite, b"", b"info_hash", info)
    ctx = b"\x00" + psk_id_hash + info_hash
    secret = lextract(suite, ss, b"secret", b"")
    out = {"exp": lexpand(suite, secret, b"exp", ctx, 32), "suite": suite}
    if aead_id != 0xFFFF:
        out["key"] = lexpand(suite, secret, b"key", ctx, 32)
        out["nonce"] = lexpand(suite, secret, b"base_nonce", ctx, 12)
    return out

# --- protobuf subset
def varint(b, i):
    v, s = 0, 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, i
def fields(b):
    i, out = 0, []
    while i < len(b):
        tag, i = varint(b, i); num, typ = tag >> 3, tag & 7
        if typ == 0: v, i = varint(b, i)
        else:
            l, i = varint(b, i); v = b[i:i+l]; i += l
        out.append((num, v))
    return out
def enc_varint(v):
    o = b""
    while v >= 0x80: o += bytes([v & 0x7f | 0x80]); v >>= 7
    return o + bytes([v])
def fbytes(num, v): return (enc_varint(num << 3 | 2) + enc_varint(len(v)) + v) if v else b""

def dp(tag, msg): return tag.encode() + b"\0" + msg

def open_env(blob, ad_expect, key_id, sk):
    fs = fields(blob)
    d = {}
    wrapped = []
    for n, v in fs:
        if n == 6: wrapped.append(dict(fields(v)))
        else: d[n] = v
    assert d[1] == 1
    ad, nonce, ct, kc = d[2], d[3], d[4], d[5]
    assert ad == ad_expect, "AD"
    wk = [w for w in wrapped if w[1].decode() == key_id][0]
    enc, sealed, scheme = wk[3], wk[4], wk.get(5, 0)
    ss = decap(sk, enc)
    if scheme == 0:
        info = dp("medchain/vault/wrap/v1", fbytes(1, ad) + fbytes(2, key_id.encode()))
        ks = key_schedule(ss, info, 0x0002)
        dk = AESGCM(ks["key"]).decrypt(ks["nonce"], sealed, b"")
    elif scheme == 1:
        info = dp("medchain/vault/batch-context/v1", fbytes(1, key_id.encode()))
        ks = key_schedule(ss, info, 0xFFFF)
        secret = lexpand(ks["suite"], ks["exp"], b"sec", b"medchain/vault/batch-export/v1", 32)
        binding = fbytes(1, ad) + fbytes(2, key_id.encode()) + fbytes(3, nonce)
        kek = expand(extract(b"", secret), dp("medchain/vault/batch-kek/v1", binding), 32)
        dk = AESGCM(kek).decrypt(b"\0" * 12, sealed, dp("medchain/vault/batch-wrap/v1", binding))
    else:
        raise Exception("scheme")
    prk = extract(b"", dk)
    k_aead = expand(prk, b"medchain/vault/aead-key/v1", 32)
    commit = expand(prk, b"medchain/vault/key-commit/v1", 32)
    assert commit == kc, "commitment"
    pt = AESGCM(k_aead).decrypt(nonce, ct, dp("medchain/vault/record/v1", ad))
    return scheme, pt, enc

def ad_bytes(a):
    return (fbytes(1, a["RecordID"].encode()) + enc_varint(2 << 3) + enc_varint(a["Version"]) +
            fbytes(3, a["Patient"].encode()) + fbytes(4, a["ResourceType"].encode()))

n = 0
for f in sys.argv[1:]:
    encs = []
    for item in json.load(open(f)):
        blob = bytes.fromhex(item["blob"])
        assert hashlib.sha256(blob).hexdigest() == item["blob_sha256"]
        for r in item["recipients"]:
            if r["kem"] != KEM_X25519: continue
            sk = derive_x25519(bytes.fromhex(r["ikm"]))
            scheme, pt, enc = open_env(blob, ad_bytes(item["ad"]), r["key_id"], sk)
            assert pt.decode() == item["plaintext"], pt
            encs.append(enc)
            n += 1
            print(f, item["ad"]["RecordID"], r["key_id"], "scheme", scheme, "opened:", pt.decode())
    if "batch" in f:
        assert len(set(encs)) == 1 and len(encs) == 2, "batch envelopes share the encapsulation"
print(n, "wrapped keys opened independently")

# KEK / wrap known answer for the Go test.
secret = bytes(range(32))
adb = bytes.fromhex("0a087265632d3030303110031a156469643a6d6564636861696e3a70617469656e7431220b4f62736572766174696f6e")
binding = fbytes(1, adb) + fbytes(2, b"did:medchain:patient1#enc-1") + fbytes(3, b"\x01" * 12)
kek = expand(extract(b"", secret), dp("medchain/vault/batch-kek/v1", binding), 32)
dk = bytes(range(0x20, 0x40))
print("kek", kek.hex())
print("sealed", AESGCM(kek).encrypt(b"\0" * 12, dk, dp("medchain/vault/batch-wrap/v1", binding)).hex())

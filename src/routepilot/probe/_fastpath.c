/* The prober's per-packet loop in C: build and send probes, read the kernel's transmit
 * and receive stamps and the answers, and hand Python the answers in bulk (issue #18).
 *
 * One Channel per probe socket (routepilot/probe/sockets.py opens, steers and configures
 * the socket; the Channel only uses its file descriptor). Python keeps the scheduling,
 * the probes in flight, the statistics and the policy; what it gets from drain() is one
 * tuple per answer that can be ours, with its transmit stamp already attached:
 *
 *     (token, target, rx_ns, status, responder, ttl, tx_ns)
 *
 * Wire formats, as routepilot/probe/wire.py describes them: ICMP echo (RFC 792,
 * RFC 4443 §4) carries the token in its payload and its low 16 bits in the sequence
 * number, then the per-run magic word; a TCP SYN (RFC 9293 §3.1) carries token + magic
 * as its initial sequence number; a UDP probe carries token and magic as its payload,
 * quoted back by ICMP port unreachable (RFC 792, RFC 1812 §4.3.2.3).
 *
 * Timestamps (SO_TIMESTAMPING, software): the receive stamp comes with each answer; the
 * transmit stamp comes back on the error queue, numbered by the kernel's per-socket
 * counter (OPT_ID), which a ring maps back to the token sent in that order. A stamp that
 * cannot be its probe's (before the probe was handed to the kernel, or more than a second
 * after) reveals that the two counts slipped apart (a send the kernel counted and we saw
 * fail, or the reverse), and the neighbour that fits re-aligns them.
 *
 * Anything malformed or foreign is counted (the "unmatched" count of drain()), never an
 * error. The GIL is kept across the (non-blocking) system calls on purpose: giving it up
 * per call is what made the Python prober's rate collapse beside other Python work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <structmember.h>
#include <sys/socket.h>
#include <time.h>

#ifndef SO_TIMESTAMPING
#define SO_TIMESTAMPING 37
#endif
#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_EE_ORIGIN_TIMESTAMPING
#define SO_EE_ORIGIN_TIMESTAMPING 4
#endif

#define RING 65536
#define RING_MASK 0xFFFF
#define VLEN 64    /* datagrams per recvmmsg call */
#define BATCH 512  /* datagrams per queue per drain() call, as the Python sockets read */
#define DATA_MAX 2048
#define CTRL_MAX 512
#define PAD_MAX 1400
#define MAX_BOUNDS 16 /* read-delay histogram bounds, at most */

enum { KIND_ICMP = 0, KIND_TCP = 1, KIND_UDP = 2 };
enum { REPLY = 0, UNREACHABLE = 1, TTL_EXCEEDED = 2 };

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Sum of 16-bit big-endian words (RFC 1071), an odd last byte padded with zero. */
static uint64_t word_sum(const uint8_t *p, size_t n) {
    uint64_t s = 0;
    size_t i;
    for (i = 0; i + 1 < n; i += 2) s += be16(p + i);
    if (n & 1) s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint64_t s) {
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)(~s & 0xFFFF);
}

/* --- parsing answers (shared by Channel.drain and the module's parse_* functions) ---- */

typedef struct {
    int status;
    int64_t token; /* -1: not quoted; the caller maps the sequence number */
    int seq;
    int has_qdst;
    uint8_t qdst[16];
    int ttl;
} Parsed;

/* The echo request an ICMP error quotes, at d + q (its type already checked): ours when its
 * identifier is; its token when the quote is long enough to hold it (else -1: the sequence
 * number names the probe), and then its magic must be ours too. */
static int quoted_echo(const uint8_t *d, size_t n, size_t q, uint16_t ident, uint32_t magic,
                       Parsed *out) {
    if (be16(d + q + 4) != ident) return -1;
    out->seq = be16(d + q + 6);
    out->token = -1;
    if (n >= q + 16) {
        if (be32(d + q + 12) != magic) return -1;
        out->token = be32(d + q + 8);
    }
    return 0;
}

/* A raw IPv4 ICMP packet, IP header included (wire.parse_icmp4). Returns 0 when ours. */
static int parse_icmp4(const uint8_t *d, size_t n, uint16_t ident, uint32_t magic, Parsed *out) {
    if (n < 20) return -1;
    size_t ihl = (size_t)(d[0] & 0x0F) * 4;
    if (ihl < 20 || n < ihl + 8) return -1;
    out->ttl = d[8];
    out->has_qdst = 0;
    uint8_t type = d[ihl];
    if (type == 0) {
        if (n < ihl + 16) return -1;
        if (be16(d + ihl + 4) != ident || be32(d + ihl + 12) != magic) return -1;
        out->status = REPLY;
        out->seq = be16(d + ihl + 6);
        out->token = be32(d + ihl + 8);
        return 0;
    }
    if (type != 3 && type != 11) return -1;
    out->status = type == 11 ? TTL_EXCEEDED : UNREACHABLE;
    size_t inner = ihl + 8;
    if (n < inner + 20) return -1;
    size_t iihl = (size_t)(d[inner] & 0x0F) * 4;
    if (d[inner + 9] != 1 || iihl < 20) return -1;
    memcpy(out->qdst, d + inner + 16, 4);
    out->has_qdst = 1;
    size_t q = inner + iihl;
    if (n < q + 8 || d[q] != 8) return -1;
    return quoted_echo(d, n, q, ident, magic, out);
}

/* A raw ICMPv6 message, no IPv6 header (wire.parse_icmp6). */
static int parse_icmp6(const uint8_t *d, size_t n, uint16_t ident, uint32_t magic, Parsed *out) {
    out->ttl = -1;
    out->has_qdst = 0;
    if (n < 8) return -1;
    uint8_t type = d[0];
    if (type == 129) {
        if (n < 16) return -1;
        if (be16(d + 4) != ident || be32(d + 12) != magic) return -1;
        out->status = REPLY;
        out->seq = be16(d + 6);
        out->token = be32(d + 8);
        return 0;
    }
    if (type != 1 && type != 3) return -1;
    out->status = type == 3 ? TTL_EXCEEDED : UNREACHABLE;
    /* The invoking packet: a 40-byte IPv6 header, then (probes carry no extension
     * headers) the echo request. */
    if (n < 8 + 40 + 8 || d[8 + 6] != 58) return -1;
    memcpy(out->qdst, d + 8 + 24, 16);
    out->has_qdst = 1;
    size_t q = 48;
    if (d[q] != 128) return -1;
    return quoted_echo(d, n, q, ident, magic, out);
}

/* A TCP segment answering a SYN (wire.parse_tcp): SYN/ACK or RST with ACK, from the probed
 * port to ours. IPv4 raw sockets hand the IP header too; IPv6 ones do not. */
static int parse_tcp(const uint8_t *d, size_t n, int v4, uint16_t sport, uint16_t dport,
                     uint32_t magic, Parsed *out) {
    size_t off = 0;
    out->ttl = -1;
    out->has_qdst = 0;
    if (v4) {
        if (n < 20) return -1;
        off = (size_t)(d[0] & 0x0F) * 4;
        if (off < 20) return -1;
        out->ttl = d[8];
    }
    if (n < off + 20) return -1;
    if (be16(d + off) != dport || be16(d + off + 2) != sport) return -1;
    uint8_t flags = d[off + 13];
    if (!(flags & 0x10)) return -1;
    if ((flags & 0x12) != 0x12 && !(flags & 0x04)) return -1;
    out->status = REPLY;
    out->token = (uint32_t)(be32(d + off + 8) - 1 - magic);
    out->seq = -1;
    return 0;
}

/* What an ICMP error quoting a probe says (sockets._error_status). Port unreachable
 * means the probe reached its host (only the destination sends it, RFC 1122 §3.2.2.1). */
static int error_status(int v4, int etype, int code) {
    if (v4) {
        if (etype == 11) return TTL_EXCEEDED;
        if (etype == 3 && code == 3) return REPLY;
    } else {
        if (etype == 3) return TTL_EXCEEDED;
        if (etype == 1 && code == 4) return REPLY;
    }
    return UNREACHABLE;
}

/* An ICMP error read from a TCP or UDP socket's error queue: the kernel returns the
 * quoted transport header (ports then our ISN for TCP; our payload for UDP). */
static int parse_error(int kind, int v4, uint32_t magic, const uint8_t *d, size_t n, int etype,
                       int code, Parsed *out) {
    out->ttl = -1;
    out->has_qdst = 0;
    out->seq = -1;
    if (kind == KIND_TCP) {
        if (n < 8) return -1;
        out->token = (uint32_t)(be32(d + 4) - magic);
        out->status = error_status(v4, etype, code);
        if (out->status == REPLY) out->status = UNREACHABLE; /* a TCP probe's port answers */
        return 0;
    }
    if (kind == KIND_UDP) {
        if (n < 8 || be32(d + 4) != magic) return -1;
        out->token = be32(d);
        out->status = error_status(v4, etype, code);
        return 0;
    }
    return -1;
}

static PyObject *address_str(int family, const void *raw) {
    char buf[INET6_ADDRSTRLEN];
    if (family == AF_INET) { /* inet_ntop's text, without its printf (once per answer) */
        const uint8_t *b = raw;
        char *p = buf;
        for (int i = 0; i < 4; i++) {
            if (i) *p++ = '.';
            if (b[i] >= 100) *p++ = (char)('0' + b[i] / 100);
            if (b[i] >= 10) *p++ = (char)('0' + b[i] / 10 % 10);
            *p++ = (char)('0' + b[i] % 10);
        }
        return PyUnicode_FromStringAndSize(buf, p - buf);
    }
    if (!inet_ntop(family, raw, buf, sizeof buf)) return PyUnicode_FromString("");
    return PyUnicode_FromString(buf);
}

/* --- one probe in flight (probe/engine.py's Probe) ------------------------------------ */


typedef struct {
    PyObject_HEAD
    unsigned long long token;
    PyObject *sock, *target, *kind, *done, *tag;
    long provider;
    long long tx_user;
} Probe;

static int Probe_traverse(Probe *self, visitproc visit, void *arg) {
    Py_VISIT(self->sock);
    Py_VISIT(self->target);
    Py_VISIT(self->kind);
    Py_VISIT(self->done);
    Py_VISIT(self->tag);
    return 0;
}

static int Probe_clear(Probe *self) {
    Py_CLEAR(self->sock);
    Py_CLEAR(self->target);
    Py_CLEAR(self->kind);
    Py_CLEAR(self->done);
    Py_CLEAR(self->tag);
    return 0;
}

static void Probe_dealloc(Probe *self) {
    PyObject_GC_UnTrack(self);
    Probe_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A probe with its fields (new references taken); NULL on no memory. Probe() and the
 * channel's send_run() make them. */
static PyObject *probe_make(PyTypeObject *type, unsigned long long token, PyObject *sock,
                            PyObject *target, long provider, PyObject *kind, long long tx_user,
                            PyObject *done, PyObject *tag) {
    Probe *self = (Probe *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->token = token;
    self->provider = provider;
    self->tx_user = tx_user;
    self->sock = Py_NewRef(sock);
    self->target = Py_NewRef(target);
    self->kind = Py_NewRef(kind);
    self->done = Py_NewRef(done);
    self->tag = Py_NewRef(tag);
    return (PyObject *)self;
}

static PyObject *Probe_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    unsigned long long token;
    PyObject *sock, *target, *kind, *done, *tag;
    long provider;
    long long tx_user;
    if (kw && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "Probe() takes its fields by position");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "KOOlOLOO:Probe", &token, &sock, &target, &provider, &kind,
                          &tx_user, &done, &tag))
        return NULL;
    return probe_make(type, token, sock, target, provider, kind, tx_user, done, tag);
}

static PyMemberDef Probe_members[] = {
    {"token", T_ULONGLONG, offsetof(Probe, token), READONLY, "its 32-bit token"},
    {"sock", T_OBJECT_EX, offsetof(Probe, sock), READONLY, "the ProbeSocket it left by"},
    {"target", T_OBJECT_EX, offsetof(Probe, target), READONLY, "the address probed"},
    {"provider", T_LONG, offsetof(Probe, provider), READONLY, "the provider's number"},
    {"kind", T_OBJECT_EX, offsetof(Probe, kind), READONLY, "icmp, tcp or udp"},
    {"tx_user", T_LONGLONG, offsetof(Probe, tx_user), READONLY,
     "the engine's clock when it was sent (ns)"},
    {"done", T_OBJECT_EX, offsetof(Probe, done), READONLY, "called once with its outcome"},
    {"tag", T_OBJECT_EX, offsetof(Probe, tag), READONLY,
     "the sender's own value, handed back untouched"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject ProbeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "routepilot.probe._fastpath.Probe",
    .tp_basicsize = sizeof(Probe),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = PyDoc_STR("Probe(token, sock, target, provider, kind, tx_user, done, tag)\n"
                        "One probe in flight (made in C: one per probe sent)."),
    .tp_new = Probe_new,
    .tp_dealloc = (destructor)Probe_dealloc,
    .tp_traverse = (traverseproc)Probe_traverse,
    .tp_clear = (inquiry)Probe_clear,
    .tp_members = Probe_members,
};


/* --- the Channel ----------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int fd;
    int kind;
    int family;
    uint16_t ident;
    uint16_t sport;
    uint16_t dport;
    uint32_t magic;
    uint8_t pad[PAD_MAX];
    Py_ssize_t padlen;
    int64_t *keys;      /* send order -> token (-1: none) */
    int64_t *tx_user;   /* send order -> the caller's clock when it was sent */
    int64_t *slot_tok;  /* token & 0xFFFF -> token (-1: none) */
    int64_t *slot_tx;   /* token & 0xFFFF -> its kernel transmit stamp (0: none yet) */
    uint32_t sent;
    int64_t shift;
    uint32_t drops;
    unsigned long long tx_stamps;
    /* recvmmsg buffers, laid out once */
    struct mmsghdr msgs[VLEN];
    struct iovec iov[VLEN];
    struct sockaddr_in6 names[VLEN];
    uint8_t *data;
    uint8_t *ctrl;
    uint8_t *sbuf; /* send_run()'s packets, made at its first call */
    /* While drain_into() runs (borrowed): the engine's probes in flight, this channel's
     * socket object, where matched answers go, the timeout, the clock when the datagrams
     * being read were received, and the matched answers' read delays: a histogram over
     * the caller's bounds, and their sum. */
    PyObject *m_inflight, *m_sock, *m_matched;
    int64_t m_timeout, m_now;
    int64_t m_bounds[MAX_BOUNDS], m_counts[MAX_BOUNDS + 1], m_delay_sum;
    int m_nbounds;
} Channel;

static int64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void Channel_dealloc(Channel *self) {
    PyMem_Free(self->keys);
    PyMem_Free(self->tx_user);
    PyMem_Free(self->slot_tok);
    PyMem_Free(self->slot_tx);
    PyMem_Free(self->data);
    PyMem_Free(self->ctrl);
    PyMem_Free(self->sbuf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Channel_init(Channel *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"fd", "kind", "family", "magic", "ident", "sport", "dport", "pad", NULL};
    int fd, kind, family;
    unsigned long magic;
    int ident = 0, sport = 0, dport = 0;
    Py_buffer pad = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiik|iiiy*", names, &fd, &kind, &family, &magic,
                                     &ident, &sport, &dport, &pad))
        return -1;
    if (pad.buf && pad.len > PAD_MAX) {
        PyBuffer_Release(&pad);
        PyErr_Format(PyExc_ValueError, "payload padding over %d bytes", PAD_MAX);
        return -1;
    }
    if (kind < KIND_ICMP || kind > KIND_UDP || (family != AF_INET && family != AF_INET6)) {
        if (pad.buf) PyBuffer_Release(&pad);
        PyErr_SetString(PyExc_ValueError, "unknown probe kind or address family");
        return -1;
    }
    self->fd = fd;
    self->kind = kind;
    self->family = family;
    self->magic = (uint32_t)magic;
    self->ident = (uint16_t)ident;
    self->sport = (uint16_t)sport;
    self->dport = (uint16_t)dport;
    self->padlen = 0;
    if (pad.buf) {
        memcpy(self->pad, pad.buf, (size_t)pad.len);
        self->padlen = pad.len;
        PyBuffer_Release(&pad);
    }
    if (!self->keys) {
        self->keys = PyMem_Malloc(RING * sizeof(int64_t));
        self->tx_user = PyMem_Malloc(RING * sizeof(int64_t));
        self->slot_tok = PyMem_Malloc(RING * sizeof(int64_t));
        self->slot_tx = PyMem_Malloc(RING * sizeof(int64_t));
        self->data = PyMem_Malloc((size_t)VLEN * DATA_MAX);
        self->ctrl = PyMem_Malloc((size_t)VLEN * CTRL_MAX);
        if (!self->keys || !self->tx_user || !self->slot_tok || !self->slot_tx || !self->data ||
            !self->ctrl) {
            PyErr_NoMemory();
            return -1;
        }
    }
    for (int i = 0; i < RING; i++) {
        self->keys[i] = -1;
        self->tx_user[i] = 0;
        self->slot_tok[i] = -1;
        self->slot_tx[i] = 0;
    }
    self->sent = 0;
    self->shift = 0;
    self->drops = 0;
    self->tx_stamps = 0;
    return 0;
}

static void record(Channel *self, uint32_t token, int64_t tx_user) {
    uint32_t i = self->sent & RING_MASK;
    self->keys[i] = token;
    self->tx_user[i] = tx_user;
    self->sent++;
    self->slot_tok[token & RING_MASK] = token;
    self->slot_tx[token & RING_MASK] = 0;
}

/* Whether ``ns`` can be the transmit stamp of the probe sent at ring index ``i``
 * (engine semantics: from 1 µs before the caller's clock at send to a second after). */
static int stamp_fits(Channel *self, uint32_t i, int64_t ns) {
    int64_t tok = self->keys[i];
    if (tok < 0) return -1;
    int64_t u = self->tx_user[i];
    if (ns < u - 1000 || ns > u + 1000000000LL) return 0;
    self->slot_tok[tok & RING_MASK] = tok;
    self->slot_tx[tok & RING_MASK] = ns;
    self->tx_stamps++;
    return 1;
}

/* A transmit stamp for the kernel's OPT_ID ``key``: 1 taken, 0 fits no probe, -1 none sent. */
static int take_stamp(Channel *self, uint32_t key, int64_t ns) {
    static const int deltas[] = {1, -1, 2, -2, 3, -3};
    uint32_t index = (uint32_t)((int64_t)key - self->shift);
    int r = stamp_fits(self, index & RING_MASK, ns);
    if (r != 0) return r;
    for (int k = 0; k < 6; k++) {
        if (stamp_fits(self, (uint32_t)(index - deltas[k]) & RING_MASK, ns) == 1) {
            self->shift += deltas[k];
            return 1;
        }
    }
    return 0;
}

static int build(Channel *self, uint8_t *pkt, uint32_t token, long long pseudo) {
    int v4 = self->family == AF_INET;
    if (self->kind == KIND_ICMP) {
        pkt[0] = v4 ? 8 : 128;
        pkt[1] = 0;
        put16(pkt + 2, 0);
        put16(pkt + 4, self->ident);
        put16(pkt + 6, token & 0xFFFF);
        put32(pkt + 8, token);
        put32(pkt + 12, self->magic);
        memcpy(pkt + 16, self->pad, (size_t)self->padlen);
        int n = 16 + (int)self->padlen;
        if (v4) put16(pkt + 2, fold(word_sum(pkt, (size_t)n))); /* ICMPv6's: the kernel's */
        return n;
    }
    if (self->kind == KIND_TCP) {
        /* 24 bytes: the header (data offset 6 words) and an MSS option (RFC 9293 §3.2). */
        put16(pkt, self->sport);
        put16(pkt + 2, self->dport);
        put32(pkt + 4, token + self->magic);
        put32(pkt + 8, 0);
        pkt[12] = 6 << 4;
        pkt[13] = 0x02;
        put16(pkt + 14, 64240);
        put16(pkt + 16, 0);
        put16(pkt + 18, 0);
        put32(pkt + 20, 0x020405B4);
        if (v4 && pseudo >= 0) put16(pkt + 16, fold((uint64_t)pseudo + word_sum(pkt, 24)));
        return 24; /* IPv6: IPV6_CHECKSUM makes the kernel fill it in */
    }
    put32(pkt, token);
    put32(pkt + 4, self->magic);
    memcpy(pkt + 8, self->pad, (size_t)self->padlen);
    return 8 + (int)self->padlen;
}

/* The errors an ICMP error leaves pending on a socket with IP_RECVERR (ip_icmp_error). */
static int async_error(int e) {
    return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EACCES ||
           e == EPROTO || e == EMSGSIZE || e == ENOPROTOOPT;
}

PyDoc_STRVAR(send_doc,
"send(target, token, tx_user_ns, ttl=None, pseudo=-1)\n"
"Builds and sends one probe; raises OSError when the kernel refuses it. ``tx_user_ns`` is\n"
"the caller's clock at send (what a transmit stamp must fit); ``ttl`` >= 0 sets the TTL or\n"
"hop limit (None or -1: the socket's); ``pseudo`` is the IPv4 TCP pseudo-header's word sum\n"
"(wire.tcp_pseudo_sum).");

static PyObject *Channel_send(Channel *self, PyObject *args) {
    const char *target;
    unsigned long token;
    long long tx_user, pseudo = -1;
    int ttl = -1;
    PyObject *ttl_obj = Py_None;
    if (!PyArg_ParseTuple(args, "skL|OL", &target, &token, &tx_user, &ttl_obj, &pseudo))
        return NULL;
    if (ttl_obj != Py_None) {
        long v = PyLong_AsLong(ttl_obj);
        if (v == -1 && PyErr_Occurred()) return NULL;
        if (v > INT_MAX || v < INT_MIN) {
            PyErr_SetString(PyExc_OverflowError, "ttl out of range");
            return NULL;
        }
        ttl = (int)v;
    }
    struct sockaddr_in6 sa6;
    struct sockaddr_in sa4;
    struct sockaddr *sa;
    socklen_t salen;
    uint16_t port = self->kind == KIND_UDP ? self->dport : 0;
    if (self->family == AF_INET) {
        memset(&sa4, 0, sizeof sa4);
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons(port);
        if (inet_pton(AF_INET, target, &sa4.sin_addr) != 1) goto bad_address;
        sa = (struct sockaddr *)&sa4;
        salen = sizeof sa4;
    } else {
        memset(&sa6, 0, sizeof sa6);
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons(port);
        if (inet_pton(AF_INET6, target, &sa6.sin6_addr) != 1) goto bad_address;
        sa = (struct sockaddr *)&sa6;
        salen = sizeof sa6;
    }
    uint8_t pkt[16 + PAD_MAX + 8];
    int n = build(self, pkt, (uint32_t)token, pseudo);
    struct iovec iov = {pkt, (size_t)n};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cbuf;
    struct msghdr msg = {0};
    msg.msg_name = sa;
    msg.msg_namelen = salen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (ttl >= 0) {
        memset(&cbuf, 0, sizeof cbuf);
        msg.msg_control = cbuf.buf;
        msg.msg_controllen = sizeof cbuf.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = self->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
        c->cmsg_type = self->family == AF_INET ? IP_TTL : IPV6_HOPLIMIT;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
    }
    ssize_t r = sendmsg(self->fd, &msg, MSG_DONTWAIT);
    if (r < 0 && async_error(errno)) {
        /* With IP_RECVERR every ICMP error also sets the socket's pending error, which the
         * kernel hands to the next send instead of sending it (then clears it). The error is
         * still on the error queue, read in its turn; this packet was never sent: send it
         * now. A refusal of this packet fails again. */
        r = sendmsg(self->fd, &msg, MSG_DONTWAIT);
    }
    if (r < 0) return PyErr_SetFromErrno(PyExc_OSError);
    record(self, (uint32_t)token, tx_user);
    Py_RETURN_NONE;
bad_address:
    PyErr_Format(PyExc_ValueError, "not an address of this socket's family: %s", target);
    return NULL;
}

#define SVLEN 64 /* probes per sendmmsg call */
#define PKT_MAX (16 + PAD_MAX + 8)

PyDoc_STRVAR(send_run_doc,
"send_run(probes, start, provider, kind, token, tx_user_ns, inflight, append, done, sock)\n"
"    -> (next, token, sent, failed)\n"
"Sends the run of ``probes`` ((provider, kind, target, tag) each) from ``start`` that go\n"
"through this socket (``provider``, ``kind`` and its address family), at most 64, with\n"
"sendmmsg: what the engine's send loop does for each, done in C. Each probe gets the next\n"
"token at or after ``token`` not in ``inflight``; each one the kernel took is recorded, made\n"
"a Probe (sent at ``tx_user_ns``, reporting to ``done``, tagged), put in ``inflight`` and\n"
"passed to ``append`` (the deadline queue's). Returns the index after the run, the next\n"
"token, how many were sent, and (target, errno) for each the kernel refused. A target\n"
"that is no address of this family ends the run before it (``next`` is ``start`` when it\n"
"is the first: the engine's own send raises for it).");

static PyObject *Channel_send_run(Channel *self, PyObject *args) {
    PyObject *probes, *provider, *kind, *inflight, *append, *done, *sock;
    Py_ssize_t start;
    unsigned long long token;
    long long tx_user;
    if (!PyArg_ParseTuple(args, "O!nOOKLO!OOO", &PyList_Type, &probes, &start, &provider, &kind,
                          &token, &tx_user, &PyDict_Type, &inflight, &append, &done, &sock))
        return NULL;
    long prov = PyLong_AsLong(provider);
    if (prov == -1 && PyErr_Occurred()) return NULL;
    if (!self->sbuf && !(self->sbuf = PyMem_Malloc((size_t)SVLEN * PKT_MAX))) {
        PyErr_NoMemory();
        return NULL;
    }
    struct mmsghdr msgs[SVLEN];
    struct iovec iov[SVLEN];
    struct sockaddr_in6 names[SVLEN];
    uint32_t tokens[SVLEN];
    PyObject *targets[SVLEN], *tags[SVLEN]; /* borrowed from the list's tuples */
    PyObject *items[SVLEN];                 /* held while the run is sent */
    int v6 = self->family == AF_INET6;
    uint16_t port = self->kind == KIND_UDP ? self->dport : 0;
    Py_ssize_t n = 0, j = start, total = PyList_GET_SIZE(probes);
    PyObject *failed = PyList_New(0), *out = NULL;
    if (!failed) return NULL;
    memset(msgs, 0, sizeof msgs);
    /* The run: consecutive probes through this socket, each given its token and packet. */
    for (; j < total && n < SVLEN; j++) {
        PyObject *item = PyList_GET_ITEM(probes, j);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 4) break;
        PyObject *p = PyTuple_GET_ITEM(item, 0), *k = PyTuple_GET_ITEM(item, 1);
        PyObject *target = PyTuple_GET_ITEM(item, 2);
        if (!PyLong_CheckExact(p) || PyLong_AsLong(p) != prov || !PyUnicode_CheckExact(target))
            break;
        if (k != kind) {
            int same = PyObject_RichCompareBool(k, kind, Py_EQ);
            if (same < 0) goto fail;
            if (!same) break;
        }
        const char *text = PyUnicode_AsUTF8(target);
        if (!text) goto fail;
        if ((strchr(text, ':') != NULL) != v6) break; /* another family: another socket */
        struct sockaddr_in6 *sa = &names[n];
        memset(sa, 0, sizeof *sa);
        if (v6) {
            sa->sin6_family = AF_INET6;
            sa->sin6_port = htons(port);
            if (inet_pton(AF_INET6, text, &sa->sin6_addr) != 1) break;
            msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
            s4->sin_family = AF_INET;
            s4->sin_port = htons(port);
            if (inet_pton(AF_INET, text, &s4->sin_addr) != 1) break;
            msgs[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        }
        for (;;) { /* the next token not in flight */
            PyObject *key = PyLong_FromUnsignedLongLong(token);
            int busy = key ? PyDict_Contains(inflight, key) : -1;
            Py_XDECREF(key);
            if (busy < 0) goto fail;
            if (!busy) break;
            token = (token + 1) & 0xFFFFFFFFULL;
        }
        tokens[n] = (uint32_t)token;
        token = (token + 1) & 0xFFFFFFFFULL;
        uint8_t *pkt = self->sbuf + (size_t)n * PKT_MAX;
        iov[n].iov_base = pkt;
        iov[n].iov_len = (size_t)build(self, pkt, tokens[n], -1);
        msgs[n].msg_hdr.msg_name = sa;
        msgs[n].msg_hdr.msg_iov = &iov[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
        targets[n] = target;
        tags[n] = PyTuple_GET_ITEM(item, 3);
        items[n] = Py_NewRef(item);
        n++;
    }
    /* Sent in as few calls as the kernel allows; one it refuses is sent again once when the
     * refusal was an earlier ICMP error's (see send()), else counted and skipped. */
    char ok[SVLEN];
    memset(ok, 0, sizeof ok);
    Py_ssize_t i = 0, sent = 0;
    int retried = 0;
    while (i < n) {
        int r = sendmmsg(self->fd, msgs + i, (unsigned int)(n - i), MSG_DONTWAIT);
        if (r > 0) {
            for (int q = 0; q < r; q++) ok[i + q] = 1;
            i += r;
            retried = 0;
            continue;
        }
        int e = errno;
        if (r < 0 && async_error(e) && !retried) {
            retried = 1;
            continue;
        }
        PyObject *f = Py_BuildValue("(Oi)", targets[i], r < 0 ? e : EIO);
        if (!f || PyList_Append(failed, f) < 0) {
            Py_XDECREF(f);
            goto fail_sent;
        }
        Py_DECREF(f);
        i++;
        retried = 0;
    }
fail_sent:
    /* What the kernel took is in flight, whatever else failed. */
    for (Py_ssize_t q = 0; q < n; q++) {
        if (!ok[q]) continue;
        record(self, tokens[q], tx_user);
        sent++;
        if (PyErr_Occurred()) continue;
        PyObject *pr = probe_make(&ProbeType, tokens[q], sock, targets[q], prov, kind, tx_user,
                                  done, tags[q]);
        if (!pr) continue;
        PyObject *key = PyLong_FromUnsignedLong(tokens[q]);
        PyObject *r = NULL;
        if (key && PyDict_SetItem(inflight, key, pr) == 0) r = PyObject_CallOneArg(append, pr);
        Py_XDECREF(r);
        Py_XDECREF(key);
        Py_DECREF(pr);
    }
    if (!PyErr_Occurred())
        out = Py_BuildValue("(nKnO)", start + n, token, sent, failed);
    for (Py_ssize_t q = 0; q < n; q++) Py_DECREF(items[q]);
    Py_DECREF(failed);
    return out;
fail:
    for (Py_ssize_t q = 0; q < n; q++) Py_DECREF(items[q]);
    Py_DECREF(failed);
    return NULL;
}

PyDoc_STRVAR(packet_doc,
"packet(token, pseudo=-1) -> bytes\n"
"The probe send() would send for ``token`` (the transport header on; the kernel adds IP's).");

static PyObject *Channel_packet(Channel *self, PyObject *args) {
    unsigned long token;
    long long pseudo = -1;
    if (!PyArg_ParseTuple(args, "k|L", &token, &pseudo)) return NULL;
    uint8_t pkt[16 + PAD_MAX + 8];
    int n = build(self, pkt, (uint32_t)token, pseudo);
    return PyBytes_FromStringAndSize((const char *)pkt, n);
}

PyDoc_STRVAR(record_doc,
"record(token, tx_user_ns)\n"
"Notes a probe as sent, in send order, without sending it (what send() does after the\n"
"kernel took the packet): for sockets whose packets another path sent, and for tests.");

static PyObject *Channel_record(Channel *self, PyObject *args) {
    unsigned long token;
    long long tx_user;
    if (!PyArg_ParseTuple(args, "kL", &token, &tx_user)) return NULL;
    record(self, (uint32_t)token, tx_user);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(stamp_doc,
"stamp(key, ns) -> bool | None\n"
"A kernel transmit stamp for OPT_ID ``key`` (what drain() does with each one): True when a\n"
"probe took it, False when it fits none (even after re-alignment), None when none was sent.");

static PyObject *Channel_stamp(Channel *self, PyObject *args) {
    unsigned long key;
    long long ns;
    if (!PyArg_ParseTuple(args, "kL", &key, &ns)) return NULL;
    int r = take_stamp(self, (uint32_t)key, ns);
    if (r < 0) Py_RETURN_NONE;
    return PyBool_FromLong(r);
}

PyDoc_STRVAR(tx_ns_doc, "tx_ns(token) -> int\nThe kernel transmit stamp held for ``token`` (0: none).");

static PyObject *Channel_tx_ns(Channel *self, PyObject *arg) {
    unsigned long token = PyLong_AsUnsignedLongMask(arg);
    if (PyErr_Occurred()) return NULL;
    uint32_t t = (uint32_t)token;
    if (self->slot_tok[t & RING_MASK] != (int64_t)t) return PyLong_FromLong(0);
    return PyLong_FromLongLong(self->slot_tx[t & RING_MASK]);
}

/* Control messages of one received datagram. */
typedef struct {
    int64_t ts;
    int64_t drops; /* -1: absent */
    const struct sock_extended_err *ee;
    size_t ee_len;
} Ctrl;

static void read_ctrl(struct msghdr *m, Ctrl *c) {
    c->ts = 0;
    c->drops = -1;
    c->ee = NULL;
    c->ee_len = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        size_t len = h->cmsg_len - CMSG_LEN(0);
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SO_TIMESTAMPING && len >= 16) {
            int64_t s, ns;
            memcpy(&s, CMSG_DATA(h), 8);
            memcpy(&ns, CMSG_DATA(h) + 8, 8);
            c->ts = s * 1000000000LL + ns;
        } else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SO_RXQ_OVFL && len >= 4) {
            uint32_t d;
            memcpy(&d, CMSG_DATA(h), 4);
            c->drops = d;
        } else if ((h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_RECVERR) ||
                   (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_RECVERR)) {
            if (len >= sizeof(struct sock_extended_err)) {
                c->ee = (const struct sock_extended_err *)CMSG_DATA(h);
                c->ee_len = len;
            }
        }
    }
}

/* The address of a datagram's sender (msg_name); 0 when it holds none of our family. */
static int peer_of(Channel *self, struct msghdr *m, uint8_t *out) {
    if (self->family == AF_INET) {
        struct sockaddr_in *s = m->msg_name;
        if (m->msg_namelen < sizeof *s || s->sin_family != AF_INET) return 0;
        memcpy(out, &s->sin_addr, 4);
    } else {
        struct sockaddr_in6 *s = m->msg_name;
        if (m->msg_namelen < sizeof *s || s->sin6_family != AF_INET6) return 0;
        memcpy(out, &s->sin6_addr, 16);
    }
    return 1;
}

/* Under drain_into(): settles an answer that is the common case, a reply in time from the
 * probed address to a probe in flight on this socket with both kernel stamps, as the engine
 * would (probe/engine.py's answers()): the probe leaves the table and goes to the matched
 * list with its RTT. 1 when it did, 0 when the answer is for the engine to look at, -1 on a
 * Python error. */
static int settle(Channel *self, uint32_t token, const uint8_t *target, int64_t rx, int64_t tx,
                  int status, int rfam, const uint8_t *responder, int ttl) {
    size_t alen = self->family == AF_INET ? 4 : 16;
    if (status != REPLY || !rx || !tx || rfam != self->family || memcmp(target, responder, alen))
        return 0;
    PyObject *key = PyLong_FromUnsignedLong(token);
    if (!key) return -1;
    PyObject *found = PyDict_GetItemWithError(self->m_inflight, key); /* borrowed */
    int rc = found || !PyErr_Occurred() ? 0 : -1;
    if (found && Py_IS_TYPE(found, &ProbeType)) {
        Probe *probe = (Probe *)found;
        uint8_t probed[16];
        const char *text = PyUnicode_Check(probe->target) ? PyUnicode_AsUTF8(probe->target) : NULL;
        if (!text) PyErr_Clear();
        if (text && probe->sock == self->m_sock && inet_pton(self->family, text, probed) == 1 &&
            !memcmp(probed, target, alen) && rx - tx <= self->m_timeout &&
            self->m_now - probe->tx_user <= self->m_timeout) {
            PyObject *item = Py_BuildValue("(OLi)", found, (long long)(rx - tx), ttl);
            rc = item && PyList_Append(self->m_matched, item) == 0 &&
                         PyDict_DelItem(self->m_inflight, key) == 0
                     ? 1
                     : -1;
            Py_XDECREF(item);
            int64_t delay = self->m_now - rx;
            int b = 0; /* the first bound at or above the delay (bisect_left) */
            while (b < self->m_nbounds && self->m_bounds[b] < delay) b++;
            self->m_counts[b]++;
            self->m_delay_sum += delay;
        }
    }
    Py_DECREF(key);
    return rc;
}

/* Appends one answer tuple (or settles it, under drain_into()); -1 on a Python error. */
static int emit(Channel *self, PyObject *list, uint32_t token, const uint8_t *target,
                int64_t rx, int status, int rfam, const uint8_t *responder, int ttl) {
    int64_t tx = self->slot_tok[token & RING_MASK] == (int64_t)token
                     ? self->slot_tx[token & RING_MASK]
                     : 0;
    if (self->m_inflight) {
        int settled = settle(self, token, target, rx, tx, status, rfam, responder, ttl);
        if (settled) return settled < 0 ? -1 : 0;
    }
    PyObject *t = address_str(self->family, target);
    PyObject *r;
    if (t && rfam == self->family &&
        !memcmp(target, responder, rfam == AF_INET ? 4 : 16)) { /* a reply: the same text */
        r = t;
        Py_INCREF(r);
    } else {
        r = address_str(rfam, responder);
    }
    PyObject *tup = NULL;
    if (t && r) tup = Py_BuildValue("(kOLiOiL)", (unsigned long)token, t, (long long)rx, status, r,
                                    ttl, (long long)tx);
    Py_XDECREF(t);
    Py_XDECREF(r);
    if (!tup) return -1;
    int rc = PyList_Append(list, tup);
    Py_DECREF(tup);
    return rc;
}

static int recv_batch(Channel *self, int flags, size_t dlen) {
    for (int i = 0; i < VLEN; i++) {
        self->iov[i].iov_base = self->data + (size_t)i * DATA_MAX;
        self->iov[i].iov_len = dlen;
        struct msghdr *h = &self->msgs[i].msg_hdr;
        h->msg_name = &self->names[i];
        h->msg_namelen = sizeof self->names[i];
        h->msg_iov = &self->iov[i];
        h->msg_iovlen = 1;
        h->msg_control = self->ctrl + (size_t)i * CTRL_MAX;
        h->msg_controllen = CTRL_MAX;
        h->msg_flags = 0;
    }
    int n = recvmmsg(self->fd, self->msgs, VLEN, flags | MSG_DONTWAIT, NULL);
    if (n > 0 && self->m_inflight) self->m_now = realtime_ns();
    return n;
}

/* The error queue: transmit stamps, and (TCP, UDP) ICMP errors. Returns 1 when it stopped at
 * the batch limit, 0 when the queue is empty, -1 on a Python error. */
static int drain_errqueue(Channel *self, PyObject *list, long *unmatched) {
    int v4 = self->family == AF_INET;
    int total = 0;
    while (total < BATCH) {
        int n = recv_batch(self, MSG_ERRQUEUE, 64);
        if (n <= 0) return 0;
        for (int i = 0; i < n; i++) {
            struct msghdr *m = &self->msgs[i].msg_hdr;
            Ctrl c;
            read_ctrl(m, &c);
            if (!c.ee) continue;
            if (c.ee->ee_origin == SO_EE_ORIGIN_TIMESTAMPING) {
                if (c.ts) take_stamp(self, c.ee->ee_data, c.ts);
                continue;
            }
            Parsed p;
            uint8_t target[16];
            const uint8_t *d = self->data + (size_t)i * DATA_MAX;
            if (!peer_of(self, m, target) ||
                parse_error(self->kind, v4, self->magic, d, self->msgs[i].msg_len,
                            c.ee->ee_type, c.ee->ee_code, &p) < 0) {
                (*unmatched)++;
                continue;
            }
            /* The offender (SO_EE_OFFENDER, after the struct) is the router that answered. */
            const uint8_t *responder = target;
            int rfam = self->family;
            if (c.ee->ee_origin == SO_EE_ORIGIN_ICMP || c.ee->ee_origin == SO_EE_ORIGIN_ICMP6) {
                const struct sockaddr *off = SO_EE_OFFENDER(c.ee);
                size_t base = sizeof(struct sock_extended_err);
                if (c.ee_len >= base + 8 && off->sa_family == AF_INET) {
                    responder = (const uint8_t *)&((const struct sockaddr_in *)off)->sin_addr;
                    rfam = AF_INET;
                } else if (c.ee_len >= base + 24 && off->sa_family == AF_INET6) {
                    responder = (const uint8_t *)&((const struct sockaddr_in6 *)off)->sin6_addr;
                    rfam = AF_INET6;
                }
            }
            if (emit(self, list, (uint32_t)p.token, target, c.ts, p.status, rfam, responder, -1) <
                0)
                return -1;
        }
        total += n;
        if (n < VLEN) return 0;
    }
    return 1;
}

/* The receive queue: answers (ICMP, TCP); a UDP probe's port answering is not how UDP
 * probes work here, so whatever a UDP socket receives is counted unmatched. */
static int drain_answers(Channel *self, PyObject *list, long *unmatched, int64_t *drops) {
    int v4 = self->family == AF_INET;
    int total = 0;
    size_t dlen = self->kind == KIND_TCP ? 256 : DATA_MAX;
    while (total < BATCH) {
        int n = recv_batch(self, 0, dlen);
        if (n <= 0) return 0;
        for (int i = 0; i < n; i++) {
            struct msghdr *m = &self->msgs[i].msg_hdr;
            Ctrl c;
            read_ctrl(m, &c);
            if (c.drops > *drops) *drops = c.drops;
            const uint8_t *d = self->data + (size_t)i * DATA_MAX;
            size_t len = self->msgs[i].msg_len;
            Parsed p;
            uint8_t peer[16];
            int rc;
            if (self->kind == KIND_ICMP)
                rc = v4 ? parse_icmp4(d, len, self->ident, self->magic, &p)
                        : parse_icmp6(d, len, self->ident, self->magic, &p);
            else if (self->kind == KIND_TCP)
                rc = parse_tcp(d, len, v4, self->sport, self->dport, self->magic, &p);
            else
                rc = -1;
            /* The sender: IPv4 raw sockets hand its header; IPv6 ones the address alone. */
            if (rc == 0) {
                if (v4)
                    memcpy(peer, d + 12, 4);
                else if (!peer_of(self, m, peer))
                    rc = -1;
            }
            if (rc == 0 && p.token < 0) {
                /* An error quoting only 8 bytes: the sequence number names the probe. */
                p.token = self->slot_tok[p.seq & RING_MASK];
                if (p.token < 0) rc = -1;
            }
            if (rc < 0) {
                (*unmatched)++;
                continue;
            }
            /* An ICMP error quotes the probe's destination; an answer's sender is it. */
            const uint8_t *target = p.has_qdst ? p.qdst : peer;
            if (emit(self, list, (uint32_t)p.token, target, c.ts, p.status, self->family, peer,
                     p.ttl) < 0)
                return -1;
        }
        total += n;
        if (n < VLEN) return 0;
    }
    return 1;
}

PyDoc_STRVAR(drain_doc,
"drain() -> (answers, unmatched, drops, stamps, more)\n"
"Reads what waits on the socket, at most a batch of each queue: the answers that can be\n"
"ours as (token, target, rx_ns, status, responder, ttl, tx_ns) (0 for a missing stamp),\n"
"how many datagrams were malformed or foreign, how many answers the kernel dropped for a\n"
"full buffer since the last drain, how many transmit stamps were taken, and whether a\n"
"batch limit was reached (more may wait).");

/* drain()'s reading, into `list`; the rest of its tuple after the list. */
static PyObject *drain_rest(Channel *self, PyObject *list) {
    long unmatched = 0;
    int64_t drops = -1;
    unsigned long long stamps0 = self->tx_stamps;
    int more_e = drain_errqueue(self, list, &unmatched);
    if (more_e < 0) return NULL;
    int more_a = drain_answers(self, list, &unmatched, &drops);
    if (more_a < 0) return NULL;
    long new_drops = 0;
    if (drops > (int64_t)self->drops) {
        new_drops = (long)(drops - self->drops);
        self->drops = (uint32_t)drops;
    }
    return Py_BuildValue("(OllKO)", list, unmatched, new_drops, self->tx_stamps - stamps0,
                         (more_e || more_a) ? Py_True : Py_False);
}

static PyObject *Channel_drain(Channel *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    PyObject *out = drain_rest(self, list);
    Py_DECREF(list);
    return out;
}

PyDoc_STRVAR(drain_into_doc,
"drain_into(inflight, sock, timeout_ns, bounds) -> (matched, delay_counts, delay_sum,\n"
"answers, unmatched, drops, stamps, more)\n"
"drain(), settling the common answers itself as the engine would: a reply from the probed\n"
"address to a probe of ``inflight`` (token -> Probe) sent on ``sock``, with both kernel\n"
"stamps, arrived and read within ``timeout_ns``. Each leaves ``inflight`` and is in\n"
"``matched`` as (probe, rtt_ns, ttl); how long they waited to be read (ns, by\n"
"CLOCK_REALTIME: the engine's clock must be time.time_ns) is counted over ``bounds`` (at\n"
"most 16, ascending; bucket i holds the delays above bounds[i - 1] up to bounds[i], the\n"
"last the rest) and summed. Every other answer is in ``answers``.");

static PyObject *Channel_drain_into(Channel *self, PyObject *args) {
    PyObject *inflight, *sock, *bounds;
    long long timeout;
    if (!PyArg_ParseTuple(args, "O!OLO!", &PyDict_Type, &inflight, &sock, &timeout,
                          &PyTuple_Type, &bounds))
        return NULL;
    Py_ssize_t nb = PyTuple_GET_SIZE(bounds);
    if (nb > MAX_BOUNDS) {
        PyErr_Format(PyExc_ValueError, "%zd bounds: at most %d", nb, MAX_BOUNDS);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nb; i++) {
        self->m_bounds[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(bounds, i));
        if (self->m_bounds[i] == -1 && PyErr_Occurred()) return NULL;
    }
    self->m_nbounds = (int)nb;
    memset(self->m_counts, 0, sizeof self->m_counts);
    self->m_delay_sum = 0;
    PyObject *list = PyList_New(0), *matched = PyList_New(0);
    PyObject *rest = NULL, *out = NULL, *counts = NULL;
    if (list && matched) {
        self->m_inflight = inflight;
        self->m_sock = sock;
        self->m_matched = matched;
        self->m_timeout = timeout;
        self->m_now = realtime_ns();
        rest = drain_rest(self, list);
        self->m_inflight = self->m_sock = self->m_matched = NULL;
    }
    if (rest && (counts = PyList_New(nb + 1))) {
        for (Py_ssize_t i = 0; counts && i <= nb; i++) {
            PyObject *c = PyLong_FromLongLong(self->m_counts[i]);
            if (!c) Py_CLEAR(counts);
            else PyList_SET_ITEM(counts, i, c);
        }
    }
    if (rest && counts) {
        out = Py_BuildValue("(OOLOOOOO)", matched, counts, (long long)self->m_delay_sum,
                            PyTuple_GET_ITEM(rest, 0), PyTuple_GET_ITEM(rest, 1),
                            PyTuple_GET_ITEM(rest, 2), PyTuple_GET_ITEM(rest, 3),
                            PyTuple_GET_ITEM(rest, 4));
    }
    Py_XDECREF(rest);
    Py_XDECREF(counts);
    Py_XDECREF(list);
    Py_XDECREF(matched);
    return out;
}

static PyMethodDef Channel_methods[] = {
    {"send", (PyCFunction)Channel_send, METH_VARARGS, send_doc},
    {"send_run", (PyCFunction)Channel_send_run, METH_VARARGS, send_run_doc},
    {"packet", (PyCFunction)Channel_packet, METH_VARARGS, packet_doc},
    {"record", (PyCFunction)Channel_record, METH_VARARGS, record_doc},
    {"stamp", (PyCFunction)Channel_stamp, METH_VARARGS, stamp_doc},
    {"tx_ns", (PyCFunction)Channel_tx_ns, METH_O, tx_ns_doc},
    {"drain", (PyCFunction)Channel_drain, METH_NOARGS, drain_doc},
    {"drain_into", (PyCFunction)Channel_drain_into, METH_VARARGS, drain_into_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ChannelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "routepilot.probe._fastpath.Channel",
    .tp_basicsize = sizeof(Channel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("Channel(fd, kind, family, magic, ident=0, sport=0, dport=0, pad=b'')\n"
                        "Sends probes on one socket and reads their answers and stamps."),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Channel_init,
    .tp_dealloc = (destructor)Channel_dealloc,
    .tp_methods = Channel_methods,
};

/* --- module-level parsers, the same code drain() runs, for tests and tools ------------- */

static PyObject *parsed_tuple(int family, Parsed *p) {
    PyObject *q;
    if (p->has_qdst)
        q = address_str(family, p->qdst);
    else
        q = Py_NewRef(Py_None);
    if (!q) return NULL;
    return Py_BuildValue("(iLiNi)", p->status, (long long)p->token, p->seq, q, p->ttl);
}

PyDoc_STRVAR(parse_answer_doc,
"parse_answer(kind, family, data, magic, ident=0, sport=0, dport=0)\n"
"-> (status, token or -1, seq or -1, quoted destination or None, ttl) | None\n"
"What drain() makes of one datagram read from a probe socket; None: not ours (counted\n"
"unmatched). IPv4 raw data starts with the IP header.");

static PyObject *parse_answer(PyObject *mod, PyObject *args, PyObject *kw) {
    static char *names[] = {"kind", "family", "data", "magic", "ident", "sport", "dport", NULL};
    int kind, family, ident = 0, sport = 0, dport = 0;
    unsigned long magic;
    Py_buffer b;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiy*k|iii", names, &kind, &family, &b, &magic,
                                     &ident, &sport, &dport))
        return NULL;
    Parsed p;
    int rc;
    const uint8_t *d = b.buf;
    size_t n = (size_t)b.len;
    if (kind == KIND_ICMP)
        rc = family == AF_INET ? parse_icmp4(d, n, (uint16_t)ident, (uint32_t)magic, &p)
                               : parse_icmp6(d, n, (uint16_t)ident, (uint32_t)magic, &p);
    else if (kind == KIND_TCP)
        rc = parse_tcp(d, n, family == AF_INET, (uint16_t)sport, (uint16_t)dport,
                       (uint32_t)magic, &p);
    else
        rc = -1;
    PyBuffer_Release(&b);
    if (rc < 0) Py_RETURN_NONE;
    return parsed_tuple(family, &p);
}

PyDoc_STRVAR(parse_error_doc,
"parse_error(kind, family, data, magic, icmp_type, icmp_code)\n"
"-> (status, token, -1, None, -1) | None\n"
"What drain() makes of an ICMP error on a TCP or UDP socket's error queue (``data`` is the\n"
"quoted transport header the kernel returns); None: not ours.");

static PyObject *parse_error_py(PyObject *mod, PyObject *args) {
    int kind, family, etype, code;
    unsigned long magic;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "iiy*kii", &kind, &family, &b, &magic, &etype, &code))
        return NULL;
    Parsed p;
    int rc = parse_error(kind, family == AF_INET, (uint32_t)magic, b.buf, (size_t)b.len, etype,
                         code, &p);
    PyBuffer_Release(&b);
    if (rc < 0) Py_RETURN_NONE;
    return parsed_tuple(family, &p);
}

/* --- the RTT spread (probe/qualify.py) ------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median |difference| between successive values of v[0..n) (answered RTTs, in order);
 * NaN with fewer than min_answers (or 2) of them. Overwrites v. */
static double median_step_of(double *v, Py_ssize_t n, Py_ssize_t min_answers) {
    if (n < min_answers || n < 2) return NAN;
    /* Successive differences in place: v[i] = |v[i + 1] - v[i]|, n - 1 of them. */
    Py_ssize_t m = n - 1;
    for (Py_ssize_t i = 0; i < m; i++) v[i] = fabs(v[i + 1] - v[i]);
    qsort(v, (size_t)m, sizeof(double), cmp_double);
    return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

PyDoc_STRVAR(median_step_doc,
"median_step(rtts, min_answers) -> float\n"
"The median |difference| between successive answered RTTs of ``rtts`` (an iterable of\n"
"floats, NaN for a loss, skipped); NaN with fewer than ``min_answers`` answered. The same\n"
"arithmetic as probe/qualify.py's Python reading, which it replaces on the result path.");

static PyObject *median_step(PyObject *mod, PyObject *args) {
    PyObject *seq;
    Py_ssize_t min_answers;
    if (!PyArg_ParseTuple(args, "On", &seq, &min_answers)) return NULL;
    PyObject *it = PyObject_GetIter(seq);
    if (!it) return NULL;
    double stack[64], *v = stack;
    Py_ssize_t cap = 64, n = 0;
    PyObject *item;
    while ((item = PyIter_Next(it))) {
        double x = PyFloat_AsDouble(item);
        Py_DECREF(item);
        if (x == -1.0 && PyErr_Occurred()) goto fail;
        if (x != x) continue;
        if (n == cap) {
            double *bigger = PyMem_Malloc(2 * cap * sizeof(double));
            if (!bigger) { PyErr_NoMemory(); goto fail; }
            memcpy(bigger, v, n * sizeof(double));
            if (v != stack) PyMem_Free(v);
            v = bigger;
            cap *= 2;
        }
        v[n++] = x;
    }
    if (PyErr_Occurred()) goto fail;
    Py_DECREF(it);
    double result = median_step_of(v, n, min_answers);
    if (v != stack) PyMem_Free(v);
    return PyFloat_FromDouble(result);
fail:
    Py_DECREF(it);
    if (v != stack) PyMem_Free(v);
    return NULL;
}

/* --- a target's last results through each provider (probe/qualify.py) ----------------- */

#define MAX_PROVIDERS 4096
#define SPREAD_PER_MEDIAN_STEP 2.7 /* p90 - p10 over the median |successive difference| */
#define MIN_ANSWERS 8              /* answers a spread is read from, at least */

typedef struct {
    double *ring; /* the last `samples` results, the oldest at `head`; NaN for a loss */
    int len, head;
    int losses;      /* NaNs in the ring */
    long long added; /* results since the target was verified */
    char read;       /* the spread was read at least once */
    char wide;       /* and was wide when last read */
} Slot;

typedef struct {
    PyObject_HEAD
    int samples;
    long long fresh; /* results since the target was last judged */
    int nslots;
    Slot *slots; /* by provider number */
} HostRecord;

static void HostRecord_dealloc(HostRecord *self) {
    for (int i = 0; i < self->nslots; i++) PyMem_Free(self->slots[i].ring);
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int HostRecord_init(HostRecord *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"samples", NULL};
    int samples = 20;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kwlist, &samples)) return -1;
    if (samples < 1 || samples > 100000) {
        PyErr_Format(PyExc_ValueError, "samples %d: expected 1 to 100000", samples);
        return -1;
    }
    for (int i = 0; i < self->nslots; i++) PyMem_Free(self->slots[i].ring);
    PyMem_Free(self->slots);
    self->slots = NULL;
    self->nslots = 0;
    self->samples = samples;
    self->fresh = 0;
    return 0;
}

/* Provider p's slot, made when `create`; NULL with no error when absent, NULL with an
 * error for a provider number out of range or no memory. */
static Slot *slot_of(HostRecord *self, long p, int create) {
    if (p < 0 || p >= MAX_PROVIDERS) {
        PyErr_Format(PyExc_ValueError, "provider %ld: expected 0 to %d", p, MAX_PROVIDERS - 1);
        return NULL;
    }
    if (p >= self->nslots) {
        if (!create) return NULL;
        Slot *grown = PyMem_Realloc(self->slots, (size_t)(p + 1) * sizeof(Slot));
        if (!grown) {
            PyErr_NoMemory();
            return NULL;
        }
        memset(grown + self->nslots, 0, (size_t)(p + 1 - self->nslots) * sizeof(Slot));
        self->slots = grown;
        self->nslots = (int)p + 1;
    }
    return &self->slots[p];
}

static int add_result(HostRecord *self, Slot *s, double rtt) {
    int n = self->samples;
    if (!s->ring) {
        s->ring = PyMem_Malloc((size_t)n * sizeof(double));
        if (!s->ring) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (s->len == n) {
        if (s->ring[s->head] != s->ring[s->head]) s->losses--;
        s->ring[s->head] = rtt;
        s->head = (s->head + 1) % n;
    } else {
        s->ring[(s->head + s->len) % n] = rtt;
        s->len++;
    }
    if (rtt != rtt) s->losses++;
    self->fresh++;
    s->added++;
    return 0;
}

/* Whether the spread of the slot's answered RTTs is wide: at least `ms` and `ratio` of
 * their median (SpreadRule.wide); -1 on no memory. */
static int slot_wide(HostRecord *self, Slot *s, double ms, double ratio) {
    if (ms <= 0 || !s->ring) return 0;
    double stack[2 * 64], *v = stack;
    if (s->len > 64 && !(v = PyMem_Malloc(2 * (size_t)s->len * sizeof(double)))) {
        PyErr_NoMemory();
        return -1;
    }
    double *sorted = v + s->len;
    Py_ssize_t n = 0;
    for (int i = 0; i < s->len; i++) {
        double x = s->ring[(s->head + i) % self->samples];
        if (x == x) {
            v[n] = x;
            sorted[n++] = x;
        }
    }
    double spread = SPREAD_PER_MEDIAN_STEP * median_step_of(v, n, MIN_ANSWERS);
    int wide = 0;
    if (spread >= ms) { /* false for NaN: too few answers to tell */
        qsort(sorted, (size_t)n, sizeof(double), cmp_double);
        double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        wide = spread >= ratio * median;
    }
    if (v != stack) PyMem_Free(v);
    return wide;
}

PyDoc_STRVAR(add_doc, "add(provider, rtt_ms)\nOne result through ``provider``: its RTT, NaN when lost.");

static PyObject *HostRecord_add(HostRecord *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(provider, rtt_ms)");
        return NULL;
    }
    long p = PyLong_AsLong(args[0]);
    double rtt = PyFloat_AsDouble(args[1]);
    if (PyErr_Occurred()) return NULL;
    Slot *s = slot_of(self, p, 1);
    if (!s || add_result(self, s, rtt) < 0) return NULL;
    Py_RETURN_NONE;
}

/* settle(): one result, and the spread read at every `every`-th answer; whether it was
 * wide when last read, -1 on a Python error. */
static int record_settle(HostRecord *self, long p, double rtt, long every, double ms,
                         double ratio) {
    Slot *s = slot_of(self, p, 1);
    if (!s || add_result(self, s, rtt) < 0) return -1;
    if (rtt == rtt && every > 0 && s->added % every == 0) {
        int wide = slot_wide(self, s, ms, ratio);
        if (wide < 0) return -1;
        s->read = 1;
        s->wide = (char)wide;
    }
    return s->wide;
}

PyDoc_STRVAR(settle_doc,
"settle(provider, rtt_ms, every, ms, ratio) -> bool\n"
"add(), and at every ``every``-th result through ``provider`` that answered, the spread\n"
"read against the rule (``ms``, ``ratio``) as read_spread() does; returns whether it was\n"
"wide when last read. The result path's one call per result.");

static PyObject *HostRecord_settle(HostRecord *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "settle(provider, rtt_ms, every, ms, ratio)");
        return NULL;
    }
    long p = PyLong_AsLong(args[0]);
    double rtt = PyFloat_AsDouble(args[1]);
    long every = PyLong_AsLong(args[2]);
    double ms = PyFloat_AsDouble(args[3]);
    double ratio = PyFloat_AsDouble(args[4]);
    if (PyErr_Occurred()) return NULL;
    int wide = record_settle(self, p, rtt, every, ms, ratio);
    return wide < 0 ? NULL : PyBool_FromLong(wide);
}

/* A rule's ms and ratio (SpreadRule). */
static int rule_of(PyObject *rule, double *ms, double *ratio) {
    PyObject *a = PyObject_GetAttrString(rule, "ms");
    if (!a) return -1;
    *ms = PyFloat_AsDouble(a);
    Py_DECREF(a);
    if ((a = PyObject_GetAttrString(rule, "ratio")) == NULL) return -1;
    *ratio = PyFloat_AsDouble(a);
    Py_DECREF(a);
    return PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(read_spread_doc,
"read_spread(provider, rule) -> bool\n"
"Reads whether the spread through ``provider`` is wide now by ``rule`` (a SpreadRule),\n"
"and remembers it.");

static PyObject *HostRecord_read_spread(HostRecord *self, PyObject *args) {
    long p;
    PyObject *rule;
    double ms, ratio;
    if (!PyArg_ParseTuple(args, "lO", &p, &rule) || rule_of(rule, &ms, &ratio) < 0) return NULL;
    Slot *s = slot_of(self, p, 1);
    if (!s) return NULL;
    int wide = slot_wide(self, s, ms, ratio);
    if (wide < 0) return NULL;
    s->read = 1;
    s->wide = (char)wide;
    return PyBool_FromLong(wide);
}

static int record_suspect(HostRecord *self, double loss) {
    double limit = loss * self->samples;
    for (int i = 0; i < self->nslots; i++) {
        Slot *s = &self->slots[i];
        if ((s->ring && s->losses >= limit) || (s->read && s->wide)) return 1;
    }
    return 0;
}

PyDoc_STRVAR(suspect_doc,
"suspect(loss) -> bool\n"
"Lossy (``loss`` of ``samples`` lost) or wide through some provider: worth judging (most\n"
"targets are not).");

static PyObject *HostRecord_suspect(HostRecord *self, PyObject *arg) {
    double loss = PyFloat_AsDouble(arg);
    if (loss == -1.0 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(record_suspect(self, loss));
}

PyDoc_STRVAR(full_doc, "full() -> list[int]\nThe providers with ``samples`` results.");

static PyObject *HostRecord_full(HostRecord *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    for (int i = 0; out && i < self->nslots; i++) {
        if (self->slots[i].ring && self->slots[i].len >= self->samples) {
            PyObject *n = PyLong_FromLong(i);
            if (!n || PyList_Append(out, n) < 0) Py_CLEAR(out);
            Py_XDECREF(n);
        }
    }
    return out;
}

/* One of the slot's counts for a provider, 0 when it has no results. */
static PyObject *slot_count(HostRecord *self, PyObject *arg, int losses) {
    long p = PyLong_AsLong(arg);
    if (p == -1 && PyErr_Occurred()) return NULL;
    Slot *s = slot_of(self, p, 0);
    if (!s && PyErr_Occurred()) return NULL;
    return PyLong_FromLong(!s || !s->ring ? 0 : losses ? s->losses : s->len);
}

PyDoc_STRVAR(lost_doc, "lost(provider) -> int\nLost results in the provider's last ``samples``.");
static PyObject *HostRecord_lost(HostRecord *self, PyObject *arg) { return slot_count(self, arg, 1); }

PyDoc_STRVAR(count_doc, "count(provider) -> int\nResults kept for the provider.");
static PyObject *HostRecord_count(HostRecord *self, PyObject *arg) { return slot_count(self, arg, 0); }

/* {provider: value} over the slots with results (or with a spread read, `wide`). */
enum { VIEW_RESULTS, VIEW_ADDED, VIEW_LOSSES, VIEW_WIDE };

static PyObject *view(HostRecord *self, int what) {
    PyObject *out = PyDict_New();
    for (int i = 0; out && i < self->nslots; i++) {
        Slot *s = &self->slots[i];
        if (what == VIEW_WIDE ? !s->read : !s->ring) continue;
        PyObject *v;
        if (what == VIEW_RESULTS) {
            v = PyList_New(s->len);
            for (int j = 0; v && j < s->len; j++) {
                PyObject *x = PyFloat_FromDouble(s->ring[(s->head + j) % self->samples]);
                if (!x) Py_CLEAR(v);
                else PyList_SET_ITEM(v, j, x);
            }
        } else if (what == VIEW_WIDE) {
            v = PyBool_FromLong(s->wide);
        } else {
            v = PyLong_FromLongLong(what == VIEW_ADDED ? s->added : s->losses);
        }
        PyObject *k = PyLong_FromLong(i);
        if (!v || !k || PyDict_SetItem(out, k, v) < 0) Py_CLEAR(out);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return out;
}

static PyObject *get_results(HostRecord *self, void *c) { return view(self, VIEW_RESULTS); }
static PyObject *get_added(HostRecord *self, void *c) { return view(self, VIEW_ADDED); }
static PyObject *get_losses(HostRecord *self, void *c) { return view(self, VIEW_LOSSES); }
static PyObject *get_wide(HostRecord *self, void *c) { return view(self, VIEW_WIDE); }
static PyObject *get_samples(HostRecord *self, void *c) { return PyLong_FromLong(self->samples); }
static PyObject *get_fresh(HostRecord *self, void *c) { return PyLong_FromLongLong(self->fresh); }

static int set_fresh(HostRecord *self, PyObject *v, void *c) {
    long long n = v ? PyLong_AsLongLong(v) : -1;
    if (!v) PyErr_SetString(PyExc_TypeError, "fresh cannot be deleted");
    if (n == -1 && PyErr_Occurred()) return -1;
    self->fresh = n;
    return 0;
}

static PyGetSetDef HostRecord_getset[] = {
    {"results", (getter)get_results, NULL,
     PyDoc_STR("{provider: its last results, oldest first} (a copy)"), NULL},
    {"added", (getter)get_added, NULL,
     PyDoc_STR("{provider: results through it since the target was verified}"), NULL},
    {"losses", (getter)get_losses, NULL,
     PyDoc_STR("{provider: lost results among its last ``samples``}"), NULL},
    {"wide", (getter)get_wide, NULL,
     PyDoc_STR("{provider: whether its spread was wide when last read}"), NULL},
    {"samples", (getter)get_samples, NULL, PyDoc_STR("results kept per provider"), NULL},
    {"fresh", (getter)get_fresh, (setter)set_fresh,
     PyDoc_STR("results since the target was last judged"), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef HostRecord_methods[] = {
    {"add", (PyCFunction)(void (*)(void))HostRecord_add, METH_FASTCALL, add_doc},
    {"settle", (PyCFunction)(void (*)(void))HostRecord_settle, METH_FASTCALL, settle_doc},
    {"read_spread", (PyCFunction)HostRecord_read_spread, METH_VARARGS, read_spread_doc},
    {"suspect", (PyCFunction)HostRecord_suspect, METH_O, suspect_doc},
    {"full", (PyCFunction)HostRecord_full, METH_NOARGS, full_doc},
    {"lost", (PyCFunction)HostRecord_lost, METH_O, lost_doc},
    {"count", (PyCFunction)HostRecord_count, METH_O, count_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HostRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "routepilot.probe._fastpath.HostRecord",
    .tp_basicsize = sizeof(HostRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("HostRecord(samples=20)\n"
                        "One target's last ``samples`` results through each provider (the RTT\n"
                        "in ms, NaN when lost), for host qualification and the RTT spread."),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)HostRecord_init,
    .tp_dealloc = (destructor)HostRecord_dealloc,
    .tp_methods = HostRecord_methods,
    .tp_getset = HostRecord_getset,
};

/* --- a path's results in its window (probe/stats.py's PathStats) ----------------------- */

#define MAX_RUN 1000000 /* losses in a row kept per path, at most */

typedef struct {
    PyObject_HEAD
    double window_s;
    Py_ssize_t cap; /* results kept, at most */
    double *sent, *rtt; /* rings of `cap`: when each probe was sent, its RTT (NaN: lost) */
    Py_ssize_t head, len;
    double *run; /* when each loss since the last answer was sent, oldest at run_head */
    Py_ssize_t run_head, run_len, run_cap;
    double jitter, prev_rtt, last_answer_sent, last_answer;
    long long sent_total, answered_total;
} PathStats;

static void PathStats_dealloc(PathStats *self) {
    PyMem_Free(self->sent);
    PyMem_Free(self->rtt);
    PyMem_Free(self->run);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int PathStats_init(PathStats *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"window_s", "max_samples", NULL};
    double window_s;
    Py_ssize_t cap = 4096;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "d|n", kwlist, &window_s, &cap)) return -1;
    if (cap < 1 || cap > 10000000) {
        PyErr_Format(PyExc_ValueError, "max_samples %zd: expected 1 to 10000000", cap);
        return -1;
    }
    PyMem_Free(self->sent);
    PyMem_Free(self->rtt);
    PyMem_Free(self->run);
    self->sent = PyMem_Malloc((size_t)cap * sizeof(double));
    self->rtt = PyMem_Malloc((size_t)cap * sizeof(double));
    self->run = NULL;
    if (!self->sent || !self->rtt) {
        PyErr_NoMemory();
        return -1;
    }
    self->window_s = window_s;
    self->cap = cap;
    self->head = self->len = self->run_head = self->run_len = self->run_cap = 0;
    self->jitter = self->prev_rtt = self->last_answer = NAN;
    self->last_answer_sent = -INFINITY;
    self->sent_total = self->answered_total = 0;
    return 0;
}

/* Keeps a loss sent at `t` in the run; -1 on no memory. */
static int run_push(PathStats *self, double t) {
    if (self->run_len == self->run_cap) {
        Py_ssize_t cap = self->run_cap ? 2 * self->run_cap : 16;
        double *grown = PyMem_Malloc((size_t)cap * sizeof(double));
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < self->run_len; i++)
            grown[i] = self->run[(self->run_head + i) % self->run_cap];
        PyMem_Free(self->run);
        self->run = grown;
        self->run_head = 0;
        self->run_cap = cap;
    }
    self->run[(self->run_head + self->run_len) % self->run_cap] = t;
    self->run_len++;
    return 0;
}

static Py_ssize_t path_add(PathStats *self, double sent, double rtt, double now);

PyDoc_STRVAR(ps_add_doc,
"add(sent_at, rtt_ms, now) -> int\n"
"Records one probe sent at ``sent_at``: its RTT, or NaN when lost. Returns the losses in a\n"
"row after it (consecutive_losses).");

static PyObject *PathStats_add(PathStats *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "add(sent_at, rtt_ms, now)");
        return NULL;
    }
    double sent = PyFloat_AsDouble(args[0]), rtt = PyFloat_AsDouble(args[1]);
    double now = PyFloat_AsDouble(args[2]);
    if (PyErr_Occurred()) return NULL;
    Py_ssize_t run = path_add(self, sent, rtt, now);
    return run < 0 ? NULL : PyLong_FromSsize_t(run);
}

/* add(): the losses in a row after it, -1 on no memory. */
static Py_ssize_t path_add(PathStats *self, double sent, double rtt, double now) {
    Py_ssize_t i;
    if (self->len == self->cap) {
        i = self->head;
        self->head = (self->head + 1) % self->cap;
    } else {
        i = (self->head + self->len++) % self->cap;
    }
    self->sent[i] = sent;
    self->rtt[i] = rtt;
    self->sent_total++;
    if (rtt == rtt) {
        self->answered_total++;
        self->last_answer = now;
        if (sent >= self->last_answer_sent) {
            self->last_answer_sent = sent;
            while (self->run_len && self->run[self->run_head] <= sent) {
                self->run_head = (self->run_head + 1) % self->run_cap;
                self->run_len--;
            }
        }
        double prev = self->prev_rtt;
        if (prev == prev) {
            double d = fabs(rtt - prev);
            self->jitter = self->jitter != self->jitter ? d / 16.0
                                                        : self->jitter + (d - self->jitter) / 16.0;
        }
        self->prev_rtt = rtt;
    } else if (sent > self->last_answer_sent && self->run_len < MAX_RUN) {
        if (run_push(self, sent) < 0) return -1;
    }
    return self->run_len;
}

static void trim(PathStats *self, double now) {
    double cutoff = now - self->window_s;
    while (self->len && self->sent[self->head] < cutoff) {
        self->head = (self->head + 1) % self->cap;
        self->len--;
    }
}

PyDoc_STRVAR(ps_trim_doc, "trim(now)\nForgets the results sent before ``now - window_s``.");

static PyObject *PathStats_trim(PathStats *self, PyObject *arg) {
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    trim(self, now);
    Py_RETURN_NONE;
}

static PyObject *ring_list(PathStats *self, double *ring) {
    PyObject *out = PyList_New(self->len);
    for (Py_ssize_t j = 0; out && j < self->len; j++) {
        PyObject *x = PyFloat_FromDouble(ring[(self->head + j) % self->cap]);
        if (!x) Py_CLEAR(out);
        else PyList_SET_ITEM(out, j, x);
    }
    return out;
}

static PyObject *ps_rtts(PathStats *self, void *c) { return ring_list(self, self->rtt); }
static PyObject *ps_times(PathStats *self, void *c) { return ring_list(self, self->sent); }
static PyObject *ps_run(PathStats *self, void *c) { return PyLong_FromSsize_t(self->run_len); }
static PyObject *ps_jitter(PathStats *self, void *c) { return PyFloat_FromDouble(self->jitter); }
static PyObject *ps_last(PathStats *self, void *c) { return PyFloat_FromDouble(self->last_answer); }
static PyObject *ps_window(PathStats *self, void *c) { return PyFloat_FromDouble(self->window_s); }
static PyObject *ps_sent(PathStats *self, void *c) { return PyLong_FromLongLong(self->sent_total); }
static PyObject *ps_answered(PathStats *self, void *c) {
    return PyLong_FromLongLong(self->answered_total);
}

static PyGetSetDef PathStats_getset[] = {
    {"rtts", (getter)ps_rtts, NULL, PyDoc_STR("the RTTs kept, oldest first (NaN: lost; a copy)"),
     NULL},
    {"times", (getter)ps_times, NULL, PyDoc_STR("when each was sent, oldest first (a copy)"), NULL},
    {"consecutive_losses", (getter)ps_run, NULL,
     PyDoc_STR("probes lost since the last answered one, in the order they were sent"), NULL},
    {"jitter", (getter)ps_jitter, NULL, PyDoc_STR("RFC 3550 interarrival jitter, ms (NaN: none)"),
     NULL},
    {"last_answer", (getter)ps_last, NULL, PyDoc_STR("when the last answer came (NaN: never)"),
     NULL},
    {"window_s", (getter)ps_window, NULL, PyDoc_STR("how long results are kept"), NULL},
    {"sent_total", (getter)ps_sent, NULL, PyDoc_STR("probes recorded, ever"), NULL},
    {"answered_total", (getter)ps_answered, NULL, PyDoc_STR("answers recorded, ever"), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef PathStats_methods[] = {
    {"add", (PyCFunction)(void (*)(void))PathStats_add, METH_FASTCALL, ps_add_doc},
    {"trim", (PyCFunction)PathStats_trim, METH_O, ps_trim_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PathStatsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "routepilot.probe._fastpath.PathStats",
    .tp_basicsize = sizeof(PathStats),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = PyDoc_STR("PathStats(window_s, max_samples=4096)\n"
                        "One path's results sent in the last ``window_s`` (at most\n"
                        "``max_samples``), its jitter and its losses in a row."),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)PathStats_init,
    .tp_dealloc = (destructor)PathStats_dealloc,
    .tp_methods = PathStats_methods,
    .tp_getset = PathStats_getset,
};

PyDoc_STRVAR(windows_doc,
"windows(paths, now) -> (bytes, bytes)\n"
"Trims every PathStats of ``paths`` to its window at ``now`` and gathers what is left: the\n"
"number of results of each path (int64s, in order) and all their RTTs one path after the\n"
"other (float64s, NaN: lost), for numpy.frombuffer.");

static PyObject *windows(PyObject *mod, PyObject *args) {
    PyObject *seq;
    double now;
    if (!PyArg_ParseTuple(args, "Od", &seq, &now)) return NULL;
    PyObject *fast = PySequence_Fast(seq, "windows() needs a sequence of PathStats");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyObject_TypeCheck(items[i], &PathStatsType)) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_TypeError, "windows() needs a sequence of PathStats");
            return NULL;
        }
        PathStats *p = (PathStats *)items[i];
        trim(p, now);
        total += p->len;
    }
    PyObject *lens = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    PyObject *flat = PyBytes_FromStringAndSize(NULL, total * (Py_ssize_t)sizeof(double));
    if (!lens || !flat) {
        Py_XDECREF(lens);
        Py_XDECREF(flat);
        Py_DECREF(fast);
        return NULL;
    }
    int64_t *l = (int64_t *)PyBytes_AS_STRING(lens);
    double *f = (double *)PyBytes_AS_STRING(flat);
    for (Py_ssize_t i = 0; i < n; i++) {
        PathStats *p = (PathStats *)items[i];
        l[i] = p->len;
        for (Py_ssize_t j = 0; j < p->len; j++) *f++ = p->rtt[(p->head + j) % p->cap];
    }
    Py_DECREF(fast);
    return Py_BuildValue("(NN)", lens, flat);
}

/* --- the result path's common case (probe/component.py's Prober._done) ------------------ */

/* Attribute names, interned at import. */
static PyObject *s_removed, *s_owner, *s_record, *s_stats, *s_prefix, *s_provider, *s_providers,
    *s_losses_through, *s_last_answer, *s_answered, *s_paths, *s_add, *s_result, *s_spread_on,
    *s_judge, *s_done, *s_failing, *s_confirming, *s_open, *s_minutes, *s_names, *s_targets,
    *s_qualify, *s_qualify_samples, *s_qualify_loss, *s_spread, *s_config, *s_outage_losses,
    *s_clock;
static PyObject *time_time; /* a prober on time.time is read by clock_gettime() instead */

typedef struct {
    PyObject_HEAD
    PyObject *prober;
    long every; /* the spread is read every `every` answers (targets.SPREAD_EVERY) */
    long reply; /* wire.REPLY */
    long long settled; /* results settled here, not by the prober's _done */
    vectorcallfunc vectorcall;
} Settler;

/* What a batch of results reads from the prober, once (new references). */
typedef struct {
    PyObject *slow, *failing, *confirming, *open, *minutes, *names, *targets, *clock;
    int off; /* the prober is not as expected: every result goes to its _done */
    int qualify, realtime;
    long long qual_min;
    double qual_loss, ms, ratio;
    long outage;
} Ctx;

static void ctx_clear(Ctx *c) {
    Py_CLEAR(c->slow);
    Py_CLEAR(c->failing);
    Py_CLEAR(c->confirming);
    Py_CLEAR(c->open);
    Py_CLEAR(c->minutes);
    Py_CLEAR(c->names);
    Py_CLEAR(c->targets);
    Py_CLEAR(c->clock);
}

/* 0, or -1 on a Python error (`c` is cleared then). */
static int ctx_load(Settler *self, Ctx *c) {
    memset(c, 0, sizeof *c);
    PyObject *p = self->prober, *spread = NULL, *config = NULL, *v = NULL;
    if (!(c->slow = PyObject_GetAttr(p, s_done)) || !(c->failing = PyObject_GetAttr(p, s_failing)) ||
        !(c->confirming = PyObject_GetAttr(p, s_confirming)) ||
        !(c->open = PyObject_GetAttr(c->confirming, s_open)) ||
        !(c->minutes = PyObject_GetAttr(p, s_minutes)) ||
        !(c->names = PyObject_GetAttr(p, s_names)) ||
        !(c->targets = PyObject_GetAttr(p, s_targets)) ||
        !(c->clock = PyObject_GetAttr(p, s_clock)))
        goto fail;
    c->realtime = c->clock == time_time;
    if (!PySet_Check(c->failing) || !PyDict_Check(c->open) || !PyTuple_Check(c->names)) {
        c->off = 1;
        return 0;
    }
    if (!(v = PyObject_GetAttr(c->targets, s_qualify)) || (c->qualify = PyObject_IsTrue(v)) < 0)
        goto fail;
    Py_CLEAR(v);
    if (!(v = PyObject_GetAttr(c->targets, s_qualify_samples))) goto fail;
    long long qs = PyLong_AsLongLong(v);
    Py_CLEAR(v);
    if (qs == -1 && PyErr_Occurred()) goto fail;
    /* fresh >= 2 and fresh >= qualify_samples // 4 */
    c->qual_min = qs / 4 > 2 ? qs / 4 : 2;
    if (!(v = PyObject_GetAttr(c->targets, s_qualify_loss))) goto fail;
    c->qual_loss = PyFloat_AsDouble(v);
    Py_CLEAR(v);
    if (PyErr_Occurred()) goto fail;
    if (!(spread = PyObject_GetAttr(c->targets, s_spread)) || rule_of(spread, &c->ms, &c->ratio) < 0)
        goto fail;
    Py_CLEAR(spread);
    if (!(config = PyObject_GetAttr(p, s_config)) ||
        !(v = PyObject_GetAttr(config, s_outage_losses)))
        goto fail;
    c->outage = PyLong_AsLong(v);
    Py_CLEAR(v);
    Py_CLEAR(config);
    if (PyErr_Occurred()) goto fail;
    return 0;
fail:
    Py_XDECREF(v);
    Py_XDECREF(spread);
    Py_XDECREF(config);
    ctx_clear(c);
    return -1;
}

/* One reply settled as Prober._done would settle it: 1 when it was, 0 when it is for
 * Prober._done (anything but the common case: nothing was changed), -1 on a Python error.
 * The common case: a probe of an active target (not a verification) of a path still
 * measured. What only Python decides (a target to judge, a wide spread, a confirmation
 * open, a minute's first result) is called from here, in Prober._done's order. */
static int settle_reply(Settler *self, Ctx *c, Probe *probe, long long rtt_ns) {
    PyObject *tag = probe->tag;
    if (c->off || !PyTuple_CheckExact(tag) || PyTuple_GET_SIZE(tag) != 4) return 0;
    PyObject *job = PyTuple_GET_ITEM(tag, 0), *sent_obj = PyTuple_GET_ITEM(tag, 2);
    PyObject *target = PyTuple_GET_ITEM(tag, 3);
    if (PyTuple_GET_ITEM(tag, 1) != Py_False || target == Py_None || !PyFloat_CheckExact(sent_obj))
        return 0;
    PyObject *removed = NULL, *owner = NULL, *record = NULL, *stats = NULL, *prefix = NULL;
    PyObject *provider = NULL, *providers = NULL, *lt = NULL, *answered = NULL, *nowobj = NULL;
    PyObject *rttobj = NULL, *key = NULL, *r = NULL, *paths = NULL;
    int rc = -1;
    long p = -1;
    if (!(removed = PyObject_GetAttr(job, s_removed)) ||
        !(owner = PyObject_GetAttr(target, s_owner)) ||
        !(record = PyObject_GetAttr(target, s_record)) ||
        !(stats = PyObject_GetAttr(job, s_stats)) || !(prefix = PyObject_GetAttr(job, s_prefix)) ||
        !(provider = PyObject_GetAttr(job, s_provider)))
        goto done;
    rc = 0;
    if (removed != Py_False || owner == Py_None || !Py_IS_TYPE(record, &HostRecordType) ||
        (stats != Py_None && !PyObject_TypeCheck(stats, &PathStatsType)) ||
        !PyUnicode_CheckExact(prefix) || !PyLong_CheckExact(provider))
        goto done;
    p = PyLong_AsLong(provider);
    if (p == -1 && PyErr_Occurred()) PyErr_Clear();
    if (p < 0 || p >= MAX_PROVIDERS || p >= PyTuple_GET_SIZE(c->names)) goto done;
    rc = -1;
    if (!(providers = PyObject_GetAttr(owner, s_providers)) ||
        !(lt = PyObject_GetAttr(target, s_losses_through)) ||
        !(answered = PyObject_GetAttr(target, s_answered)))
        goto done;
    rc = 0;
    if (!PySet_Check(providers) || !PyDict_CheckExact(lt) || !PyLong_CheckExact(answered))
        goto done;
    /* Nothing has changed so far; from here on the result is settled here. */
    rc = -1;
    double now;
    if (c->realtime) {
        now = (double)realtime_ns() / 1e9;
        nowobj = PyFloat_FromDouble(now);
    } else {
        nowobj = PyObject_CallNoArgs(c->clock);
        now = nowobj ? PyFloat_AsDouble(nowobj) : 0;
    }
    double rtt = (double)rtt_ns / 1e6;
    if (!nowobj || PyErr_Occurred() || !(rttobj = PyFloat_FromDouble(rtt))) goto done;
    /* TargetManager.result() */
    if (PySet_Add(providers, provider) < 0) goto done;
    HostRecord *rec = (HostRecord *)record;
    int wide = record_settle(rec, p, rtt, self->every, c->ms, c->ratio);
    if (wide < 0) goto done;
    int counted = 1;
    if (c->qualify && rec->fresh >= c->qual_min) {
        rec->fresh = 0; /* judged now (TargetManager._disqualify) */
        if (record_suspect(rec, c->qual_loss)) {
            r = PyObject_CallMethodObjArgs(c->targets, s_judge, owner, target, nowobj, NULL);
            int dropped = r ? PyObject_IsTrue(r) : -1;
            if (dropped < 0) goto done;
            if (dropped) wide = counted = 0;
        }
    }
    if (counted) {
        PyObject *one = PyLong_FromLong(1), *zero = PyLong_FromLong(0);
        PyObject *more = one ? PyNumber_Add(answered, one) : NULL;
        int bad = !more || !zero || PyDict_SetItem(lt, provider, zero) < 0 ||
                  PyObject_SetAttr(target, s_last_answer, nowobj) < 0 ||
                  PyObject_SetAttr(target, s_answered, more) < 0;
        Py_XDECREF(one);
        Py_XDECREF(zero);
        Py_XDECREF(more);
        if (bad) goto done;
    }
    /* The path's statistics (Prober._done) */
    if (stats == Py_None) {
        rc = 1;
        goto done;
    }
    Py_ssize_t run = path_add((PathStats *)stats, PyFloat_AS_DOUBLE(sent_obj), rtt, now);
    if (run < 0) goto done;
    if (run >= c->outage || PySet_GET_SIZE(c->failing)) {
        if (!(key = PyTuple_Pack(2, prefix, provider))) goto done;
        if ((run >= c->outage ? PySet_Add(c->failing, key) : PySet_Discard(c->failing, key)) < 0)
            goto done;
    }
    if (wide) {
        Py_XSETREF(r, PyObject_CallMethodObjArgs(self->prober, s_spread_on, prefix, nowobj, NULL));
        if (!r) goto done;
    }
    if (PyDict_GET_SIZE(c->open)) {
        Py_XSETREF(r, PyObject_CallMethodObjArgs(c->confirming, s_result, prefix, provider,
                                                 sent_obj, NULL));
        if (!r) goto done;
    }
    /* MinuteAccumulator.add(), its common case: the path has results this minute already */
    PyObject *name = PyTuple_GET_ITEM(c->names, p);
    Py_XSETREF(key, PyTuple_Pack(2, prefix, name));
    if (!key || !(paths = PyObject_GetAttr(c->minutes, s_paths))) goto done;
    PyObject *entry = PyDict_CheckExact(paths) ? PyDict_GetItemWithError(paths, key) : NULL;
    if (PyErr_Occurred()) goto done;
    if (entry && PyList_CheckExact(entry) && PyList_GET_SIZE(entry) == 2 &&
        PyLong_CheckExact(PyList_GET_ITEM(entry, 0)) && PyList_CheckExact(PyList_GET_ITEM(entry, 1))) {
        PyObject *one = PyLong_FromLong(1);
        PyObject *n = one ? PyNumber_Add(PyList_GET_ITEM(entry, 0), one) : NULL;
        Py_XDECREF(one);
        if (!n || PyList_SetItem(entry, 0, n) < 0 ||
            PyList_Append(PyList_GET_ITEM(entry, 1), rttobj) < 0)
            goto done;
    } else {
        Py_XSETREF(r, PyObject_CallMethodObjArgs(c->minutes, s_add, nowobj, prefix, name, rttobj,
                                                 NULL));
        if (!r) goto done;
    }
    rc = 1;
done:
    Py_XDECREF(removed);
    Py_XDECREF(owner);
    Py_XDECREF(record);
    Py_XDECREF(stats);
    Py_XDECREF(prefix);
    Py_XDECREF(provider);
    Py_XDECREF(providers);
    Py_XDECREF(lt);
    Py_XDECREF(answered);
    Py_XDECREF(nowobj);
    Py_XDECREF(rttobj);
    Py_XDECREF(key);
    Py_XDECREF(r);
    Py_XDECREF(paths);
    return rc;
}

/* One result through the settler: the common reply settled here, anything else by the
 * prober's _done. */
static PyObject *settler_one(Settler *self, Ctx *c, PyObject *probe, PyObject *status,
                             PyObject *rtt, PyObject *responder, PyObject *ttl) {
    if (Py_IS_TYPE(probe, &ProbeType) && PyLong_CheckExact(status) && PyLong_CheckExact(rtt)) {
        long st = PyLong_AsLong(status);
        long long ns = PyLong_AsLongLong(rtt);
        if (PyErr_Occurred()) PyErr_Clear();
        else if (st == self->reply && ns >= 0) {
            int rc = settle_reply(self, c, (Probe *)probe, ns);
            if (rc < 0) return NULL;
            if (rc) {
                self->settled++;
                Py_RETURN_NONE;
            }
        }
    }
    PyObject *args[5] = {probe, status, rtt, responder, ttl};
    return PyObject_Vectorcall(c->slow, args, 5, NULL);
}

static PyObject *Settler_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                    PyObject *kwnames) {
    Settler *self = (Settler *)callable;
    if (PyVectorcall_NARGS(nargsf) != 5 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "settler(probe, status, rtt_ns, responder, ttl)");
        return NULL;
    }
    Ctx c;
    if (ctx_load(self, &c) < 0) return NULL;
    PyObject *out = settler_one(self, &c, args[0], args[1], args[2], args[3], args[4]);
    ctx_clear(&c);
    return out;
}

static int Settler_traverse(Settler *self, visitproc visit, void *arg) {
    Py_VISIT(self->prober);
    return 0;
}

static int Settler_clear(Settler *self) {
    Py_CLEAR(self->prober);
    return 0;
}

static void Settler_dealloc(Settler *self) {
    PyObject_GC_UnTrack(self);
    Settler_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Settler_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"prober", "every", "reply", NULL};
    PyObject *prober;
    long every, reply;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Oll", kwlist, &prober, &every, &reply))
        return NULL;
    Settler *self = (Settler *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->prober = Py_NewRef(prober);
    self->every = every;
    self->reply = reply;
    self->vectorcall = Settler_vectorcall;
    return (PyObject *)self;
}

PyDoc_STRVAR(Settler_doc,
"Settler(prober, every, reply)\n"
"The prober's ``done``: called (probe, status, rtt_ns, responder, ttl) once per result.\n"
"A reply (status ``reply``) to a probe of an active target of a measured path is settled\n"
"here, in C, as ``prober._done`` would settle it: the target's record (its spread read\n"
"every ``every`` answers, the target judged every quarter of its samples), the path's\n"
"statistics, the failing paths and the minute's rollup; what only Python decides is\n"
"called back, in ``_done``'s order. Every other result goes to ``prober._done``. What it\n"
"reads of the prober (settings, clock) is read at every call, or once per deliver().");

static PyMemberDef Settler_members[] = {
    {"settled", T_LONGLONG, offsetof(Settler, settled), READONLY,
     "results settled in C, not by the prober's _done"},
    {NULL},
};

static PyTypeObject SettlerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "routepilot.probe._fastpath.Settler",
    .tp_basicsize = sizeof(Settler),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = Settler_doc,
    .tp_new = Settler_new,
    .tp_members = Settler_members,
    .tp_dealloc = (destructor)Settler_dealloc,
    .tp_traverse = (traverseproc)Settler_traverse,
    .tp_clear = (inquiry)Settler_clear,
    .tp_vectorcall_offset = offsetof(Settler, vectorcall),
    .tp_call = PyVectorcall_Call,
};

PyDoc_STRVAR(deliver_doc,
"deliver(matched, status)\n"
"Calls each probe's ``done`` with (probe, status, rtt_ns, probe.target, ttl) for every\n"
"(probe, rtt_ns, ttl) in ``matched``, in order, as a Python loop would; a Settler's\n"
"results are settled without a call, the prober read once for the whole list.");

static PyObject *deliver(PyObject *mod, PyObject *args) {
    PyObject *matched, *status;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &matched, &PyLong_Type, &status))
        return NULL;
    Settler *loaded = NULL;
    Ctx c;
    memset(&c, 0, sizeof c);
    PyObject *ret = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(matched); i++) {
        PyObject *item = PyList_GET_ITEM(matched, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 3 ||
            !Py_IS_TYPE(PyTuple_GET_ITEM(item, 0), &ProbeType)) {
            PyErr_SetString(PyExc_TypeError, "deliver: expected (probe, rtt_ns, ttl) tuples");
            goto out;
        }
        Py_INCREF(item); /* a callback may change the list */
        Probe *probe = (Probe *)PyTuple_GET_ITEM(item, 0);
        PyObject *done = probe->done, *r;
        Py_INCREF(done);
        if (Py_IS_TYPE(done, &SettlerType)) {
            if ((Settler *)done != loaded) {
                ctx_clear(&c);
                Py_XSETREF(loaded, (Settler *)Py_NewRef(done));
                if (ctx_load(loaded, &c) < 0) {
                    Py_DECREF(done);
                    Py_DECREF(item);
                    goto out;
                }
            }
            r = settler_one(loaded, &c, (PyObject *)probe, status, PyTuple_GET_ITEM(item, 1),
                            probe->target, PyTuple_GET_ITEM(item, 2));
        } else {
            PyObject *a[5] = {(PyObject *)probe, status, PyTuple_GET_ITEM(item, 1), probe->target,
                              PyTuple_GET_ITEM(item, 2)};
            r = PyObject_Vectorcall(done, a, 5, NULL);
        }
        Py_DECREF(done);
        Py_DECREF(item);
        if (!r) goto out;
        Py_DECREF(r);
    }
    ret = Py_NewRef(Py_None);
out:
    ctx_clear(&c);
    Py_XDECREF(loaded);
    return ret;
}

static PyMethodDef module_methods[] = {
    {"median_step", (PyCFunction)median_step, METH_VARARGS, median_step_doc},
    {"windows", (PyCFunction)windows, METH_VARARGS, windows_doc},
    {"deliver", (PyCFunction)deliver, METH_VARARGS, deliver_doc},
    {"parse_answer", (PyCFunction)(void (*)(void))parse_answer, METH_VARARGS | METH_KEYWORDS,
     parse_answer_doc},
    {"parse_error", (PyCFunction)parse_error_py, METH_VARARGS, parse_error_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "routepilot.probe._fastpath",
    .m_doc = "The prober's per-packet loop: sending, kernel stamps, answers (see _fastpath.c).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&ChannelType) < 0 || PyType_Ready(&HostRecordType) < 0 ||
        PyType_Ready(&PathStatsType) < 0 || PyType_Ready(&ProbeType) < 0 ||
        PyType_Ready(&SettlerType) < 0)
        return NULL;
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_removed, "removed"}, {&s_owner, "owner"}, {&s_record, "record"},
        {&s_stats, "stats"}, {&s_prefix, "prefix"}, {&s_provider, "provider"},
        {&s_providers, "providers"}, {&s_losses_through, "losses_through"},
        {&s_last_answer, "last_answer"}, {&s_answered, "answered"}, {&s_paths, "_paths"},
        {&s_add, "add"}, {&s_result, "result"}, {&s_spread_on, "_spread_on"},
        {&s_judge, "_judge"}, {&s_done, "_done"}, {&s_failing, "_failing"},
        {&s_confirming, "confirming"}, {&s_open, "open"}, {&s_minutes, "minutes"},
        {&s_names, "provider_names"}, {&s_targets, "targets"}, {&s_qualify, "qualify"},
        {&s_qualify_samples, "qualify_samples"}, {&s_qualify_loss, "qualify_loss"},
        {&s_spread, "spread"}, {&s_config, "config"}, {&s_outage_losses, "outage_losses"},
        {&s_clock, "clock"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!*names[i].slot && !(*names[i].slot = PyUnicode_InternFromString(names[i].text)))
            return NULL;
    if (!time_time) {
        PyObject *time = PyImport_ImportModule("time");
        time_time = time ? PyObject_GetAttrString(time, "time") : NULL;
        Py_XDECREF(time);
        if (!time_time) return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Channel", (PyObject *)&ChannelType) < 0 ||
        PyModule_AddObjectRef(m, "HostRecord", (PyObject *)&HostRecordType) < 0 ||
        PyModule_AddObjectRef(m, "PathStats", (PyObject *)&PathStatsType) < 0 ||
        PyModule_AddObjectRef(m, "Probe", (PyObject *)&ProbeType) < 0 ||
        PyModule_AddObjectRef(m, "Settler", (PyObject *)&SettlerType) < 0 ||
        PyModule_AddObject(m, "SPREAD_PER_MEDIAN_STEP", PyFloat_FromDouble(SPREAD_PER_MEDIAN_STEP)) < 0 ||
        PyModule_AddIntConstant(m, "MIN_ANSWERS", MIN_ANSWERS) < 0 ||
        PyModule_AddIntConstant(m, "ICMP", KIND_ICMP) < 0 ||
        PyModule_AddIntConstant(m, "TCP", KIND_TCP) < 0 ||
        PyModule_AddIntConstant(m, "UDP", KIND_UDP) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

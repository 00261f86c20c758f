/* The wish decision of an hour of a world of one product, in C: the same numbers as
 * sim/agents/wishes.py WishDecisions._one_product_rows and _one_product_chances (their
 * common branch: the product on sale, at the reference price with every price sensitivity
 * finite, so the price factor is skipped and the novelty joins the first factors; the books
 * handed to the feedback at once), bit for bit, and the same draws of the same generator
 * in the same order. The Python path is the reference and the fallback.
 *
 * Bit for bit means every number that is not a NaN: the wishes, the draws and the
 * generator's state, the counts, and every book and returned sum that is a number (a zero's
 * sign included). A NaN stays a NaN (and a NaN probability decides as the Python path's:
 * never a wish, the group's chance the first number if any), but its sign and payload may
 * differ from the Python path's: when both operands of an addition or product are NaNs,
 * x86 returns the first operand's, and which one is first is the compiler's choice here
 * (it may swap a commutative operation's operands, even at -O1) and numpy's there (its
 * array * scalar loops pick differently with the array's length: SIMD or not). Pinning it
 * would cost a NaN test per operation on the hot path. Validated configs make no NaN; the
 * NaNs the tests make on purpose compare byte for byte today, by the compiler's and
 * numpy's choices, not by a promise of this kernel.
 *
 * The generator: its capsule's functions are called with the GIL held and without the
 * bit generator's lock (rng.bit_generator.lock), as the Python path's ctypes calls
 * (sim/content.py _hold): one thread per generator, as everywhere in the model.
 *
 * one_product_hour(batches, conversion, appeal, trust, novelty, video, live, order, flat,
 *                  region, n_regions, ec, state, boost, fatigue, rating, warn,
 *                  unsigned_boost, capsule, max_seen)
 *   -> (wishes, rows, n_views, views_sum, lost_sum, region_counts)
 *   or NotImplemented (a batch's consumers are not a C-contiguous 1-D array of 4- or 8-byte
 *   integers: the arguments and the batches up to that one were read and checked, but
 *   nothing was written and nothing drawn; the Python path decides the hour)
 *
 * batches: the hour's Exposures (their consumers, channel and KOL are read);
 * conversion, trust (float64): per channel, per KOL; appeal, novelty: the product's;
 * video, live: the content channels; each batch's first factors are
 *   conversion[channel] * appeal (* trust[kol] for kol >= 0), then * novelty, as the Python
 *   path's floats (unsigned: their minimum, Python's min, before the novelty, >= 0.0);
 * order, flat: the stable order that sorts the consumers and the consumers in that order
 *   (_ascending; intp / int64) or both None: sorted here (the stable order is unique: any
 *   correct sort gives it);
 * region (an integer array per consumer) or None: the content views counted per region
 *   (n_regions of them; region_counts: bytes of int64 counts, or None);
 * ec (uint16, written), state (int8): the population's flat exposure counts and states;
 * boost, fatigue (float64; fatigue may be None): the exposure count's factor tables;
 * rating: the product's rating multiplier; warn: 1 - warning_effect; unsigned_boost:
 *   whether the repeat boost's table is at least 0 (with unsigned: the lossless rule);
 * capsule: the generator's "BitGenerator" capsule; max_seen: where counts saturate.
 * rows: a bytearray of the wishes (ascending exposure order): their consumers (int64), then
 *   their KOLs (int32), then their channels (int8), `wishes` of each.
 * views_sum: np.add.accumulate of the chances' probabilities of content views (every
 *   exposure in sorted order, those not a chance adding 0.0), plus 0.0 in front (as
 *   np.bincount from 0.0); lost_sum: the same running sum of fmax(p_plain - p, 0) (0.0
 *   when the hour is lossless: nothing to book).
 *
 * Bounds: the Python path's .item() would read a negative channel from the end; channels are
 * never negative (sim.orders' codes), so a channel out of [0, len) raises IndexError here,
 * as a KOL beyond the trusts and a consumer out of the books do (a KOL below 0: none).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

#include "_bitgen.h" /* numpy's bitgen_t */

enum { NONE = 0, BOUGHT = 1, WAITING = 2, WARNED = 3 };

/* numpy's np.minimum(x, 1.0) of float64: NaN propagates (x < 1.0 or NaN: x) */
static inline double np_min1(double x) { return (x < 1.0 || x != x) ? x : 1.0; }

/* the format's one character (a native or little-endian standard-size prefix allowed), or 0 */
static char format_char(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    return (f[0] != 0 && f[1] == 0) ? f[0] : 0;
}

static int is_signed(char c) { return c == 'b' || c == 'h' || c == 'i' || c == 'l' || c == 'q' || c == 'n'; }
static int is_unsigned(char c) { return c == 'B' || c == 'H' || c == 'I' || c == 'L' || c == 'Q' || c == 'N'; }

/* A C-contiguous 1-D buffer of the given kind ('i' signed, 'u' unsigned, 'f' float, 'n' any
 * integer: then itemsize 0 means 1, 2, 4 or 8) and item size; `writable` asks for a writable
 * one. On failure: an exception set, -1. */
static int get_array(PyObject *obj, Py_buffer *view, char kind, Py_ssize_t itemsize,
                     int writable, const char *name)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s: a C-contiguous %sarray is wanted", name,
                         writable ? "writable " : "");
        }
        return -1;
    }
    char c = format_char(view);
    int ok = view->ndim == 1 && c != 0;
    if (ok) {
        if (kind == 'f')
            ok = c == 'd' && view->itemsize == 8;
        else if (kind == 'n')
            ok = (is_signed(c) || is_unsigned(c)) &&
                 (itemsize ? view->itemsize == itemsize
                           : (view->itemsize == 1 || view->itemsize == 2 ||
                              view->itemsize == 4 || view->itemsize == 8));
        else
            ok = (kind == 'u' ? is_unsigned(c) : is_signed(c)) && view->itemsize == itemsize;
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: a 1-D array of %s items is wanted", name,
                     kind == 'f' ? "float64" : (kind == 'u' ? "unsigned" : "integer"));
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* item i of an integer buffer (1, 2, 4 or 8 bytes; signed or not); *big: an unsigned
 * 8-byte value beyond int64 */
static inline int64_t int_at(const Py_buffer *v, int uns, Py_ssize_t i, int *big)
{
    switch (v->itemsize) {
    case 1: return uns ? (int64_t)((const uint8_t *)v->buf)[i] : (int64_t)((const int8_t *)v->buf)[i];
    case 2: return uns ? (int64_t)((const uint16_t *)v->buf)[i] : (int64_t)((const int16_t *)v->buf)[i];
    case 4: return uns ? (int64_t)((const uint32_t *)v->buf)[i] : (int64_t)((const int32_t *)v->buf)[i];
    default:
        if (uns) {
            uint64_t x = ((const uint64_t *)v->buf)[i];
            if (x > (uint64_t)INT64_MAX) *big = 1;
            return (int64_t)x;
        }
        return ((const int64_t *)v->buf)[i];
    }
}

/* the batches' attribute names, interned once (PyInit__wishes) */
static PyObject *s_consumers, *s_channel, *s_kol;

typedef struct {
    Py_ssize_t pos; /* the wish's exposure position */
    int64_t consumer;
} wish_t;

/* decide_body's wish at exposure position POS for consumer ``key``, appended to ``wish``
 * (``k`` of them). The room is decide's, allocated before pass 1: the allocation here never
 * runs, but without it gcc -O2 lays the draw's loop out worse (see decide). A macro, so that
 * both call sites compile as they did written out. */
#define ADD_WISH(POS)                                                                    \
    do {                                                                                 \
        if (!wish) {                                                                     \
            wish = (wish_t *)malloc(sizeof(wish_t) * (size_t)(n > 0 ? n : 1));          \
            if (!wish) {                                                                 \
                PyErr_NoMemory();                                                        \
                return -1;                                                               \
            }                                                                            \
        }                                                                                \
        wish[k].pos = (POS);                                                             \
        wish[k].consumer = key;                                                          \
        k++;                                                                             \
    } while (0)

static int by_pos(const void *a, const void *b)
{
    Py_ssize_t x = ((const wish_t *)a)->pos, y = ((const wish_t *)b)->pos;
    return (x > y) - (x < y);
}

/* the wishes in ascending exposure order (their positions are distinct, below n): a few
 * by insertion, many marked on a map of the positions and read back in order */
static void order_wishes(wish_t *w, Py_ssize_t k, Py_ssize_t n)
{
    if (k <= 64) {
        for (Py_ssize_t i = 1; i < k; i++) {
            wish_t x = w[i];
            Py_ssize_t j = i;
            for (; j > 0 && w[j - 1].pos > x.pos; j--) w[j] = w[j - 1];
            w[j] = x;
        }
        return;
    }
    Py_ssize_t words = (n + 63) / 64;
    uint64_t *mark = (uint64_t *)calloc((size_t)words, sizeof(uint64_t));
    int64_t *who = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);
    if (!mark || !who) { /* (no memory for the map: the library's sort) */
        free(mark);
        free(who);
        qsort(w, (size_t)k, sizeof(wish_t), by_pos);
        return;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        mark[w[j].pos >> 6] |= (uint64_t)1 << (w[j].pos & 63);
        who[w[j].pos] = w[j].consumer;
    }
    Py_ssize_t j = 0;
    for (Py_ssize_t q = 0; q < words; q++) {
        uint64_t bits = mark[q];
        while (bits) {
            Py_ssize_t pos = q * 64 + __builtin_ctzll(bits);
            bits &= bits - 1;
            w[j].pos = pos;
            w[j].consumer = who[pos];
            j++;
        }
    }
    free(mark);
    free(who);
}

/* ascending sort of distinct keys: insertion sort of runs of 16, then bottom-up merges
 * (tmp: scratch of n) */
static void sort_keys(uint64_t *a, uint64_t *tmp, Py_ssize_t n)
{
    const Py_ssize_t run = 16;
    for (Py_ssize_t s = 0; s < n; s += run) {
        Py_ssize_t e = s + run < n ? s + run : n;
        for (Py_ssize_t i = s + 1; i < e; i++) {
            uint64_t x = a[i];
            Py_ssize_t j = i;
            for (; j > s && a[j - 1] > x; j--) a[j] = a[j - 1];
            a[j] = x;
        }
    }
    uint64_t *src = a, *dst = tmp;
    for (Py_ssize_t w = run; w < n; w *= 2) {
        for (Py_ssize_t s = 0; s < n; s += 2 * w) {
            Py_ssize_t m = s + w < n ? s + w : n, e = s + 2 * w < n ? s + 2 * w : n;
            Py_ssize_t i = s, j = m, k = s;
            while (i < m && j < e) dst[k++] = src[i] <= src[j] ? src[i++] : src[j++];
            while (i < m) dst[k++] = src[i++];
            while (j < e) dst[k++] = src[j++];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, sizeof(uint64_t) * (size_t)n);
}

/* An hour's decision over its sorted exposures (one_product_hour, chances): the groups'
 * counts, probabilities, chances, books and draws; -1 (an exception set) without memory. */
typedef struct {
    Py_ssize_t n;
    const int64_t *order, *flat;       /* the stable order and the sorted consumers */
    const int32_t *bid;                /* per position its batch (firsts, content per batch), */
    const double *firsts;              /* or NULL: firsts per position */
    const char *content;               /* per batch (bid) or per sorted exposure (no bid; */
    int content_all;                   /* NULL: every exposure content_all) */
    int has_nov;                       /* each first factor times nov (no bid only) */
    double nov;
    uint16_t *ec;
    const int8_t *state;
    const double *boost, *fatigue;     /* fatigue NULL: none */
    long max_seen;
    double rating, warn;
    int unsigned_ok;
    int books;                         /* a chunk's books: sums over the chances from kept0 / lost0 */
    double kept0, lost0;
    bitgen_t *bg;
    double *p, *plain;                 /* scratch, n each */
    /* out */
    wish_t *wish;                      /* malloc'd by decide (the caller frees), k of them, chance order */
    Py_ssize_t k, n_views;
    double views, lost;                /* running sums (books: from kept0 / lost0) */
    int lossless, kept_hit, lost_hit;
} decide_t;

/* a member's chance of its exposure (pass 2): its probability times the rating (a warned
 * member's times warn, when the top state is WARNED), at most 1 (numpy's minimum), 0.0 when
 * its consumer's state is closed (its plain probability too: nothing lost) */
static inline __attribute__((always_inline)) double member(const double *p, double *plain,
                                                           Py_ssize_t i, double rating,
                                                           int warned, double warn, int closed)
{
    double q = p[i] * rating;
    if (warned) q *= warn;
    q = np_min1(q);
    if (closed) {
        q = 0.0;
        plain[i] = 0.0;
    }
    return q;
}

static inline __attribute__((always_inline)) int decide_body(decide_t *d, const int by_batch)
{
    const Py_ssize_t n = d->n;
    const int64_t *order = d->order, *flat = d->flat;
    const int32_t *bid = d->bid;
    const double *firsts = d->firsts, *boost = d->boost, *fatigue = d->fatigue;
    const char *content = d->content;
    uint16_t *ec = d->ec;
    const int8_t *state = d->state;
    const double rating = d->rating, warn = d->warn;
    double *p = d->p, *plain = d->plain;
    bitgen_t *bg = d->bg;
#define CONTENT(i) (by_batch ? content[bid[order[i]]] : (content ? content[i] : d->content_all))
    /* pass 1: per group of a consumer (sorted exposures), the count (read and written:
     * uint16 arithmetic, saturated), the state, each member's probability before the rating
     * (first factors, boost, fatigue: numpy's order) and its minimum with 1 */
    int top_state = INT8_MIN;
    Py_ssize_t n_views = 0;
    for (Py_ssize_t a = 0, e; a < n; a = e) {
        const int64_t key = flat[a];
        for (e = a + 1; e < n && flat[e] == key; e++)
            ;
        unsigned cnt = (uint16_t)(ec[key] + (uint16_t)(e - a)); /* (ec + 1) + (size - 1) */
        if (cnt > (unsigned)d->max_seen) cnt = (unsigned)d->max_seen;
        ec[key] = (uint16_t)cnt;
        const int st = state[key];
        if (st > top_state) top_state = st;
        const double bst = boost[cnt], f = fatigue ? fatigue[cnt] : 0.0;
        for (Py_ssize_t i = a; i < e; i++) {
            double q;
            if (by_batch) {
                const int32_t b = bid[order[i]];
                n_views += content[b];
                q = firsts[b];
            } else {
                n_views += content ? content[i] : d->content_all;
                q = firsts[order[i]];
                if (d->has_nov) q *= d->nov;
            }
            q *= bst;
            if (fatigue) q *= f;
            p[i] = q;
            plain[i] = np_min1(q);
        }
    }
    const int some_state = n > 0 && top_state != NONE;
    const int lossless = !d->books && ((rating == 1.0 && !some_state) ||
                                       (rating >= 1.0 && top_state != WARNED && d->unsigned_ok));

    /* pass 2: the rating, the warnings and the closed states; per group its chance (the
     * first highest: NaN after every number), the books' running sums over the sorted
     * exposures (the others adding 0.0; a chunk's books: the chances alone, from its sums so
     * far, a loss when positive) and the draw */
    double views = d->books ? d->kept0 : -0.0; /* -0.0: the first term as it is (accumulate) */
    double lost = d->books ? d->lost0 : -0.0;
    int kept_hit = 0, lost_hit = 0;
    Py_ssize_t k = 0;
    wish_t *wish = d->wish; /* (decide's: not NULL; the checks below kept, see decide) */
    for (Py_ssize_t a = 0, e; a < n; a = e) {
        const int64_t key = flat[a];
        for (e = a + 1; e < n && flat[e] == key; e++)
            ;
        const int st = state[key];
        int closed;
        if (top_state == WARNED)
            closed = st != NONE && st != WARNED;
        else
            closed = some_state && st != NONE;
        Py_ssize_t best = a;
        if (e == a + 1) { /* a consumer exposed once (most): its exposure is its chance */
            const double q = member(p, plain, a, rating, top_state == WARNED && st == WARNED, warn,
                                    closed);
            const int c = CONTENT(a);
            if (d->books) {
                if (c) {
                    views += q;
                    kept_hit = 1;
                }
                const double x = plain[a] - q;
                if (x > 0) {
                    lost += x;
                    lost_hit = 1;
                }
            } else {
                if (c) views += q;
                if (!lossless) {
                    const double x = plain[a] - q;
                    lost += (x > 0.0) ? x : 0.0; /* fmax(x, 0) */
                }
            }
            const double u = bg->next_double(bg->state);
            if (u < q) {
                ADD_WISH(order[a]);
            }
            continue;
        }
        for (Py_ssize_t i = a; i < e; i++) {
            const double q = member(p, plain, i, rating, top_state == WARNED && st == WARNED, warn,
                                    closed);
            p[i] = q;
            if (i > a && (q > p[best] || (p[best] != p[best] && q == q))) best = i;
        }
        if (d->books) {
            if (CONTENT(best)) {
                views += p[best];
                kept_hit = 1;
            }
            const double x = plain[best] - p[best];
            if (x > 0) {
                lost += x;
                lost_hit = 1;
            }
        } else {
            for (Py_ssize_t i = a; i < e; i++) {
                const int chance = i == best;
                if (CONTENT(i)) views += chance ? p[i] : 0.0;
                if (!lossless) {
                    double x = chance ? plain[i] - p[i] : 0.0;
                    lost += (x > 0.0) ? x : 0.0; /* fmax(x, 0): NaN and losses of 0 add 0 */
                }
            }
        }
        const double u = bg->next_double(bg->state);
        if (u < p[best]) {
            ADD_WISH(order[best]);
        }
    }
#undef CONTENT
    d->wish = wish;
    d->k = k;
    d->n_views = n_views;
    d->views = views;
    d->lost = lost;
    d->lossless = lossless;
    d->kept_hit = kept_hit;
    d->lost_hit = lost_hit;
    return 0;
}

/* decide_body made twice: the exposures' first factors and contents per batch (bid) or per
 * position (the compiler drops the other branch of each) */
static int decide(decide_t *d)
{
    /* the wishes' room (at most one per exposure) before pass 1 writes the counts: no
     * MemoryError after a count is written. decide_body's checks of it stay, never true:
     * without them gcc -O2 lays the draw's loop out worse (3 % more of decide's
     * instructions, callgrind, an hour of 380 exposures) */
    d->wish = (wish_t *)malloc(sizeof(wish_t) * (size_t)(d->n > 0 ? d->n : 1));
    if (!d->wish) {
        PyErr_NoMemory();
        return -1;
    }
    return d->bid ? decide_body(d, 1) : decide_body(d, 0);
}

enum { A_CONV, A_TRUST, A_ORDER, A_FLAT, A_REGION, A_EC, A_STATE, A_BOOST, A_FAT, A_N };

static PyObject *one_product_hour(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *batches, *conv_o, *trust_o, *order_o, *flat_o, *region_o, *ec_o, *state_o;
    PyObject *boost_o, *fatigue_o, *capsule;
    double appeal, novelty, rating, warn;
    long long video, live;
    Py_ssize_t n_regions;
    int unsigned_boost;
    long max_seen;
    if (!PyArg_ParseTuple(args, "OOdOdLLOOOnOOOOddpOl:one_product_hour", &batches, &conv_o,
                          &appeal, &trust_o, &novelty, &video, &live, &order_o, &flat_o,
                          &region_o, &n_regions, &ec_o, &state_o, &boost_o, &fatigue_o,
                          &rating, &warn, &unsigned_boost, &capsule, &max_seen))
        return NULL;
    if (max_seen < 0 || max_seen > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "max_seen: 0 .. 65535");
        return NULL;
    }
    if ((order_o == Py_None) != (flat_o == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "order and flat: both arrays or both None");
        return NULL;
    }
    bitgen_t *bg = (bitgen_t *)PyCapsule_GetPointer(capsule, "BitGenerator");
    if (!bg) return NULL;

    Py_buffer v[A_N];
    int have[A_N] = {0};
    PyObject *fast = NULL, *result = NULL, *rows = NULL, *counts_o = NULL;
    Py_buffer *bv = NULL; /* the batches' consumers */
    Py_ssize_t nb = 0, nbv = 0;
    double *firsts = NULL;
    char *scratch = NULL;
    wish_t *wish = NULL;
    uint64_t *keys = NULL;

#define GET(slot, obj, kind, size, wr, name)                                   \
    do {                                                                       \
        if (get_array((obj), &v[slot], (kind), (size), (wr), (name)) < 0) goto fail; \
        have[slot] = 1;                                                        \
    } while (0)
    GET(A_CONV, conv_o, 'f', 8, 0, "conversion");
    GET(A_TRUST, trust_o, 'f', 8, 0, "trust");
    if (order_o != Py_None) {
        GET(A_ORDER, order_o, 'i', 8, 0, "order");
        GET(A_FLAT, flat_o, 'i', 8, 0, "flat");
    }
    if (region_o != Py_None) GET(A_REGION, region_o, 'n', 0, 0, "region");
    GET(A_EC, ec_o, 'u', 2, 1, "ec");
    GET(A_STATE, state_o, 'i', 1, 0, "state");
    GET(A_BOOST, boost_o, 'f', 8, 0, "boost");
    if (fatigue_o != Py_None) GET(A_FAT, fatigue_o, 'f', 8, 0, "fatigue");
#undef GET
    const double *conversion = (const double *)v[A_CONV].buf, *trust = (const double *)v[A_TRUST].buf;
    const Py_ssize_t n_conv = v[A_CONV].shape[0], n_trust = v[A_TRUST].shape[0];
    uint16_t *ec = (uint16_t *)v[A_EC].buf;
    const int8_t *state = (const int8_t *)v[A_STATE].buf;
    const double *boost = (const double *)v[A_BOOST].buf;
    const double *fatigue = have[A_FAT] ? (const double *)v[A_FAT].buf : NULL;
    const Py_ssize_t n_books = v[A_EC].shape[0] < v[A_STATE].shape[0] ? v[A_EC].shape[0]
                                                                      : v[A_STATE].shape[0];
    if ((Py_ssize_t)max_seen >= v[A_BOOST].shape[0] ||
        (fatigue && (Py_ssize_t)max_seen >= v[A_FAT].shape[0])) {
        PyErr_SetString(PyExc_IndexError, "the count's tables end before max_seen");
        goto fail;
    }
    if (region_o != Py_None && n_regions < 0) {
        PyErr_SetString(PyExc_ValueError, "n_regions: at least 0");
        goto fail;
    }

    /* the batches: their consumers' buffers (else the Python path), channels and KOLs */
    fast = PySequence_Fast(batches, "batches: a sequence is wanted");
    if (!fast) goto fail;
    nb = PySequence_Fast_GET_SIZE(fast);
    if (nb > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many batches");
        goto fail;
    }
    bv = (Py_buffer *)PyMem_Calloc((size_t)(nb ? nb : 1), sizeof(Py_buffer));
    firsts = (double *)calloc((size_t)(nb ? nb : 1), sizeof(double) + 3 * sizeof(int64_t) + 1);
    if (!bv || !firsts) {
        PyErr_NoMemory();
        goto fail;
    }
    int64_t *ends = (int64_t *)(firsts + nb), *channels = ends + nb, *kols = channels + nb;
    char *content = (char *)(kols + nb);
    int fallback = 0;
    Py_ssize_t n = 0;
    double low = 0.0; /* Python's min of the first factors (before the novelty) */
    for (Py_ssize_t b = 0; b < nb; b++) {
        PyObject *x = PySequence_Fast_GET_ITEM(fast, b);
        PyObject *cons = PyObject_GetAttr(x, s_consumers);
        if (!cons) goto fail;
        int got = PyObject_GetBuffer(cons, &bv[b], PyBUF_FORMAT | PyBUF_C_CONTIGUOUS);
        Py_DECREF(cons);
        if (got < 0) { /* not a buffer (the Python path's), else the error (MemoryError) */
            if (!(PyErr_ExceptionMatches(PyExc_BufferError) ||
                  PyErr_ExceptionMatches(PyExc_ValueError) ||
                  PyErr_ExceptionMatches(PyExc_TypeError)))
                goto fail;
            PyErr_Clear();
            fallback = 1;
            break;
        }
        nbv = b + 1;
        char c = format_char(&bv[b]);
        if (bv[b].ndim != 1 || !(is_signed(c) || is_unsigned(c)) ||
            (bv[b].itemsize != 4 && bv[b].itemsize != 8)) {
            fallback = 1;
            break;
        }
        PyObject *ch_o = PyObject_GetAttr(x, s_channel);
        if (!ch_o) goto fail;
        long long ch = PyLong_AsLongLong(ch_o);
        Py_DECREF(ch_o);
        PyObject *kol_o = PyObject_GetAttr(x, s_kol);
        if (!kol_o) goto fail;
        long long kol = PyLong_AsLongLong(kol_o);
        Py_DECREF(kol_o);
        if (PyErr_Occurred()) goto fail;
        if (ch < 0 || ch >= n_conv || kol >= n_trust) {
            PyErr_SetString(PyExc_IndexError, "a batch's channel or KOL out of bounds");
            goto fail;
        }
        if (ch > 127 || kol > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a batch's channel or KOL out of its dtype");
            goto fail;
        }
        double q = conversion[ch] * appeal;
        if (kol >= 0) q *= trust[kol];
        if (b == 0 || q < low) low = q;
        firsts[b] = q * novelty;
        channels[b] = ch;
        kols[b] = kol;
        content[b] = ch == video || ch == live;
        n += bv[b].shape[0];
        ends[b] = n;
    }
    if (fallback) {
        result = Py_NewRef(Py_NotImplemented);
        goto fail; /* (the way out: nothing was written) */
    }
    const int unsigned_ok = nb > 0 && low >= 0.0 && unsigned_boost;
    if (have[A_ORDER] && (v[A_ORDER].shape[0] != n || v[A_FLAT].shape[0] != n)) {
        PyErr_SetString(PyExc_ValueError, "order and flat: one entry per exposure each");
        goto fail;
    }
    if (n >= ((Py_ssize_t)1 << 31)) {
        PyErr_SetString(PyExc_ValueError, "too many exposures");
        goto fail;
    }

    /* scratch per exposure: its batch, p, p_plain (and the sort's order and consumers) */
    scratch = (char *)malloc((size_t)n * (sizeof(int32_t) + 2 * sizeof(double) +
                                                (have[A_ORDER] ? 0 : 2 * sizeof(int64_t))) + 64);
    if (!scratch) {
        PyErr_NoMemory();
        goto fail;
    }
    double *p = (double *)scratch, *plain = p + n;
    int64_t *order_s = (int64_t *)(plain + n), *flat_s = order_s + (have[A_ORDER] ? 0 : n);
    int32_t *bid = (int32_t *)(have[A_ORDER] ? (void *)order_s : (void *)(flat_s + n));
    {
        Py_ssize_t a = 0;
        for (Py_ssize_t b = 0; b < nb; b++)
            for (; a < ends[b]; a++) bid[a] = (int32_t)b;
    }
    const int64_t *order, *flat;
    if (have[A_ORDER]) {
        order = (const int64_t *)v[A_ORDER].buf;
        flat = (const int64_t *)v[A_FLAT].buf;
        for (Py_ssize_t i = 0; i < n; i++) {
            if ((uint64_t)order[i] >= (uint64_t)n) {
                PyErr_SetString(PyExc_IndexError, "order: a position out of bounds");
                goto fail;
            }
            if ((uint64_t)flat[i] >= (uint64_t)n_books) {
                PyErr_SetString(PyExc_IndexError, "a consumer out of the books' bounds");
                goto fail;
            }
        }
    } else { /* sorted here: consumer << 32 | position, distinct keys */
        keys = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)(2 * n + 1));
        if (!keys) {
            PyErr_NoMemory();
            goto fail;
        }
        Py_ssize_t i = 0;
        for (Py_ssize_t b = 0; b < nb; b++) {
            const int uns = is_unsigned(format_char(&bv[b]));
            if (!uns && bv[b].itemsize == 8) { /* (the usual: int64) */
                const int64_t *c = (const int64_t *)bv[b].buf;
                for (Py_ssize_t j = 0; j < bv[b].shape[0]; j++, i++) {
                    if (c[j] < 0 || c[j] >= n_books || c[j] > (int64_t)UINT32_MAX) {
                        PyErr_SetString(PyExc_IndexError, "a consumer out of the books' bounds");
                        goto fail;
                    }
                    keys[i] = (uint64_t)c[j] << 32 | (uint64_t)i;
                }
                continue;
            }
            for (Py_ssize_t j = 0; j < bv[b].shape[0]; j++, i++) {
                int big = 0;
                int64_t c = int_at(&bv[b], uns, j, &big);
                if (big || c < 0 || c >= n_books || c > (int64_t)UINT32_MAX) {
                        PyErr_SetString(PyExc_IndexError, "a consumer out of the books' bounds");
                    goto fail;
                }
                keys[i] = (uint64_t)c << 32 | (uint64_t)i;
            }
        }
        sort_keys(keys, keys + n, n);
        for (i = 0; i < n; i++) {
            order_s[i] = (int64_t)(keys[i] & 0xFFFFFFFFu);
            flat_s[i] = (int64_t)(keys[i] >> 32);
        }
        order = order_s;
        flat = flat_s;
    }

    /* the content views per region (integer counts: any order) */
    if (have[A_REGION]) {
        counts_o = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)sizeof(int64_t) * n_regions);
        if (!counts_o) goto fail;
        int64_t *counts = (int64_t *)PyByteArray_AS_STRING(counts_o);
        memset(counts, 0, sizeof(int64_t) * (size_t)n_regions);
        const int uns = is_unsigned(format_char(&v[A_REGION]));
        const Py_ssize_t n_reg = v[A_REGION].shape[0];
        const int bytes = uns && v[A_REGION].itemsize == 1; /* (the usual: uint8) */
        const uint8_t *reg8 = (const uint8_t *)v[A_REGION].buf;
        for (Py_ssize_t b = 0; b < nb; b++) { /* each content batch, in its own order */
            if (!content[b]) continue;
            const int buns = is_unsigned(format_char(&bv[b]));
            const int64_t *c64 = (!buns && bv[b].itemsize == 8) ? (const int64_t *)bv[b].buf : NULL;
            for (Py_ssize_t j = 0; j < bv[b].shape[0]; j++) {
                int big = 0;
                const int64_t c = c64 ? c64[j] : int_at(&bv[b], buns, j, &big);
                if (big || c < 0 || c >= n_reg) {
                    PyErr_SetString(PyExc_IndexError, "a consumer out of the regions' bounds");
                    goto fail;
                }
                int64_t r = bytes ? (int64_t)reg8[c] : int_at(&v[A_REGION], uns, c, &big);
                if (big || r < 0 || r >= n_regions) {
                    PyErr_SetString(PyExc_ValueError, "a region out of 0 .. n_regions - 1");
                    goto fail;
                }
                counts[r]++;
            }
        }
    }

    decide_t d = {0};
    d.n = n;
    d.order = order;
    d.flat = flat;
    d.bid = bid;
    d.firsts = firsts;
    d.content = content;
    d.ec = ec;
    d.state = state;
    d.boost = boost;
    d.fatigue = fatigue;
    d.max_seen = max_seen;
    d.rating = rating;
    d.warn = warn;
    d.unsigned_ok = unsigned_ok;
    d.bg = bg;
    d.p = p;
    d.plain = plain;
    const int decided = decide(&d);
    wish = d.wish; /* (freed on the way out, whatever decided) */
    if (decided < 0) goto fail;
    const Py_ssize_t k = d.k, n_views = d.n_views;
    const double views = d.views, lost = d.lost;
    const int lossless = d.lossless;
    if (k > 1) order_wishes(wish, k, n);
    rows = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(13 * k));
    if (!rows) goto fail;
    {
        char *out = PyByteArray_AS_STRING(rows);
        int64_t *oc = (int64_t *)out;
        int32_t *okl = (int32_t *)(out + 8 * k);
        int8_t *och = (int8_t *)(out + 12 * k);
        for (Py_ssize_t j = 0; j < k; j++) {
            const int32_t b = bid[wish[j].pos];
            oc[j] = wish[j].consumer;
            okl[j] = (int32_t)kols[b];
            och[j] = (int8_t)channels[b];
        }
    }
    result = Py_BuildValue("nOnddO", k, rows, n_views, 0.0 + views, lossless ? 0.0 : lost,
                           counts_o ? counts_o : Py_None);
fail:
    free(firsts);
    free(scratch);
    free(keys);
    free(wish);
    Py_XDECREF(rows);
    Py_XDECREF(counts_o);
    for (Py_ssize_t b = 0; b < nbv; b++) PyBuffer_Release(&bv[b]);
    PyMem_Free(bv);
    Py_XDECREF(fast);
    for (int s = 0; s < A_N; s++)
        if (have[s]) PyBuffer_Release(&v[s]);
    return result;
}

/* A C-contiguous 1-D buffer as get_array wants it, or 1 (declined: nothing held, no
 * exception) when it is not one; -1 on other errors. */
static int try_array(PyObject *obj, Py_buffer *view, char kind, Py_ssize_t itemsize, int writable)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError) || PyErr_ExceptionMatches(PyExc_ValueError) ||
            PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            return 1;
        }
        return -1;
    }
    char c = format_char(view);
    int ok = view->ndim == 1 && view->itemsize == itemsize &&
             (kind == 'f' ? c == 'd' : kind == '?' ? c == '?' : is_signed(c));
    if (!ok) {
        PyBuffer_Release(view);
        return 1;
    }
    return 0;
}

/* chances(order, flat, first, nov, every, n_views, ec, state, boost, fatigue, rating, warn,
 *         unsigned_ok, capsule, max_seen, books)
 *   -> (wishes, views_sum, lost_sum)  or NotImplemented (nothing written, nothing drawn)
 * WishDecisions._one_product_chances of an hour (or a chunk) without the price factor:
 * order, flat (int64), first (float64, exposure order); nov: the novelty (a float) or None
 * (already in first); every: each sorted exposure a content view (bool) or None (all when
 * n_views > 0); books: None (the hour's sums returned, as one_product_hour's) or a chunk's
 * books (views int64, kept float64, lost float64: product 0's entries continued in place).
 * wishes: a bytearray of the wishes' positions (int64), in chance (ascending consumer) order.
 * NotImplemented: order, flat, first or every not arrays of those dtypes. */
static PyObject *chances(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *order_o, *flat_o, *first_o, *nov_o, *every_o, *ec_o, *state_o, *boost_o,
        *fatigue_o, *capsule, *books_o;
    Py_ssize_t n_views_given;
    double rating, warn;
    int unsigned_ok;
    long max_seen;
    if (!PyArg_ParseTuple(args, "OOOOOnOOOOddpOlO:chances", &order_o, &flat_o, &first_o, &nov_o,
                          &every_o, &n_views_given, &ec_o, &state_o, &boost_o, &fatigue_o,
                          &rating, &warn, &unsigned_ok, &capsule, &max_seen, &books_o))
        return NULL;
    if (max_seen < 0 || max_seen > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "max_seen: 0 .. 65535");
        return NULL;
    }
    double nov = 0.0;
    if (nov_o != Py_None) {
        nov = PyFloat_AsDouble(nov_o);
        if (nov == -1.0 && PyErr_Occurred()) return NULL;
    }
    bitgen_t *bg = (bitgen_t *)PyCapsule_GetPointer(capsule, "BitGenerator");
    if (!bg) return NULL;
    enum { C_ORDER, C_FLAT, C_FIRST, C_EVERY, C_EC, C_STATE, C_BOOST, C_FAT, C_VIEWS, C_KEPT, C_LOST, C_N };
    Py_buffer v[C_N];
    int have[C_N] = {0};
    PyObject *result = NULL;
    double *scratch = NULL;
    wish_t *wish = NULL;
    int r;
#define TRY(slot, obj, kind, size)                                  \
    do {                                                            \
        r = try_array((obj), &v[slot], (kind), (size), 0);          \
        if (r < 0) goto fail;                                       \
        if (r > 0) {                                                \
            result = Py_NewRef(Py_NotImplemented);                  \
            goto fail;                                              \
        }                                                           \
        have[slot] = 1;                                             \
    } while (0)
    TRY(C_ORDER, order_o, 'i', 8);
    TRY(C_FLAT, flat_o, 'i', 8);
    TRY(C_FIRST, first_o, 'f', 8);
    if (every_o != Py_None) TRY(C_EVERY, every_o, '?', 1);
#undef TRY
#define GET(slot, obj, kind, size, wr, name)                                           \
    do {                                                                               \
        if (get_array((obj), &v[slot], (kind), (size), (wr), (name)) < 0) goto fail;   \
        have[slot] = 1;                                                                \
    } while (0)
    GET(C_EC, ec_o, 'u', 2, 1, "ec");
    GET(C_STATE, state_o, 'i', 1, 0, "state");
    GET(C_BOOST, boost_o, 'f', 8, 0, "boost");
    if (fatigue_o != Py_None) GET(C_FAT, fatigue_o, 'f', 8, 0, "fatigue");
    if (books_o != Py_None) {
        PyObject *bv, *bk, *bl;
        if (!PyArg_ParseTuple(books_o, "OOO:books", &bv, &bk, &bl)) goto fail;
        GET(C_VIEWS, bv, 'i', 8, 1, "books' views");
        GET(C_KEPT, bk, 'f', 8, 1, "books' kept");
        GET(C_LOST, bl, 'f', 8, 1, "books' lost");
        if (v[C_VIEWS].shape[0] < 1 || v[C_KEPT].shape[0] < 1 || v[C_LOST].shape[0] < 1) {
            PyErr_SetString(PyExc_IndexError, "the books: product 0's entries wanted");
            goto fail;
        }
    }
#undef GET
    const Py_ssize_t n = v[C_ORDER].shape[0];
    if (v[C_FLAT].shape[0] != n || v[C_FIRST].shape[0] != n ||
        (have[C_EVERY] && v[C_EVERY].shape[0] != n)) {
        PyErr_SetString(PyExc_ValueError, "order, flat, first and every: n each");
        goto fail;
    }
    const int64_t *order = (const int64_t *)v[C_ORDER].buf, *flat = (const int64_t *)v[C_FLAT].buf;
    const Py_ssize_t n_books = v[C_EC].shape[0] < v[C_STATE].shape[0] ? v[C_EC].shape[0]
                                                                      : v[C_STATE].shape[0];
    if ((Py_ssize_t)max_seen >= v[C_BOOST].shape[0] ||
        (have[C_FAT] && (Py_ssize_t)max_seen >= v[C_FAT].shape[0])) {
        PyErr_SetString(PyExc_IndexError, "the count's tables end before max_seen");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((uint64_t)order[i] >= (uint64_t)n) {
            PyErr_SetString(PyExc_IndexError, "order: a position out of bounds");
            goto fail;
        }
        if ((uint64_t)flat[i] >= (uint64_t)n_books) {
            PyErr_SetString(PyExc_IndexError, "a consumer out of the books' bounds");
            goto fail;
        }
    }
    scratch = (double *)malloc(sizeof(double) * (size_t)(2 * n + 1));
    if (!scratch) {
        PyErr_NoMemory();
        goto fail;
    }
    decide_t d = {0};
    d.n = n;
    d.order = order;
    d.flat = flat;
    d.firsts = (const double *)v[C_FIRST].buf;
    d.content = have[C_EVERY] ? (const char *)v[C_EVERY].buf : NULL;
    d.content_all = n_views_given > 0;
    d.has_nov = nov_o != Py_None;
    d.nov = nov;
    d.ec = (uint16_t *)v[C_EC].buf;
    d.state = (const int8_t *)v[C_STATE].buf;
    d.boost = (const double *)v[C_BOOST].buf;
    d.fatigue = have[C_FAT] ? (const double *)v[C_FAT].buf : NULL;
    d.max_seen = max_seen;
    d.rating = rating;
    d.warn = warn;
    d.unsigned_ok = unsigned_ok;
    d.books = books_o != Py_None;
    d.kept0 = d.books ? ((double *)v[C_KEPT].buf)[0] : 0.0;
    d.lost0 = d.books ? ((double *)v[C_LOST].buf)[0] : 0.0;
    d.bg = bg;
    d.p = scratch;
    d.plain = scratch + n;
    const int decided = decide(&d);
    wish = d.wish; /* (freed on the way out, whatever decided) */
    if (decided < 0) goto fail;
    if (d.books) { /* the chunk's share: the views counted, the sums continued */
        if (d.n_views) ((int64_t *)v[C_VIEWS].buf)[0] += d.n_views;
        if (d.kept_hit) ((double *)v[C_KEPT].buf)[0] = d.views;
        if (d.lost_hit) ((double *)v[C_LOST].buf)[0] = d.lost;
    }
    PyObject *at = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(8 * d.k));
    if (!at) goto fail;
    int64_t *out = (int64_t *)PyByteArray_AS_STRING(at);
    for (Py_ssize_t j = 0; j < d.k; j++) out[j] = wish[j].pos;
    result = Py_BuildValue("Ndd", at, 0.0 + d.views, d.lossless ? 0.0 : d.lost);
fail:
    free(scratch);
    free(wish);
    for (int q = 0; q < C_N; q++)
        if (have[q]) PyBuffer_Release(&v[q]);
    return result;
}

static PyMethodDef methods[] = {
    {"one_product_hour", one_product_hour, METH_VARARGS,
     "The wish decision of an hour of a world of one product (see the module's source)."},
    {"chances", chances, METH_VARARGS,
     "WishDecisions._one_product_chances without the price factor (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wishes",
    "The wish decision of a world of one product in C (sim/agents/wishes.py's Python path "
    "is the reference: the same numbers and draws).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__wishes(void)
{
    s_consumers = PyUnicode_InternFromString("consumers");
    s_channel = PyUnicode_InternFromString("channel");
    s_kol = PyUnicode_InternFromString("kol");
    if (!s_consumers || !s_channel || !s_kol) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

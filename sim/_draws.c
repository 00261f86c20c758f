/* The content phase's draw loops (sim/content.py, sim/social_graph.py), one call a loop.
 *
 * Each function makes the draws its Python path makes (sim/content.py `_poisson`,
 * `_bounded`, `_draws`, `_picks`, `_pick_each`; sim/social_graph.py
 * `SocialGraph.neighbour_slot_list`), on the generator's own C functions (its bitgen_t,
 * from the bit generator's capsule), in the same order: the same words, doubles and
 * generator state after. The GIL is held throughout, as the Python paths' ctypes calls
 * hold it. Neither takes the bit generator's lock (bit_generator.lock), which numpy's own
 * draws take (and some of them release the GIL while they hold it): nothing here keeps
 * another thread from drawing from the same generator meanwhile; a caller must not share
 * the generator with one that does.
 *
 * Bounded draws are numpy's (numpy/random/src/distributions/distributions.c,
 * random_bounded_uint64_fill and random_bounded_uint64 with use_masked false, which
 * `rng.integers(0, b)` and `rng.integers(0, bounds_array)` of int64 run):
 *   b == 1: no draw, 0;
 *   2 <= b < 2**32: Lemire's method on 32-bit words (next_uint32: a 64-bit generator keeps
 *     the unused half of its output for the next word): m = word * b, redrawn while its
 *     low 32 bits are below (2**32 - b) % b (checked only when they are below b), m >> 32;
 *   b == 2**32: one 32-bit word;
 *   2**32 < b <= 2**63: Lemire's method on 64-bit words (next_uint64), 128-bit products.
 * A bound below 1 raises ValueError("high <= 0: ...") (numpy's message), above 2**63
 * ValueError (int64's bound, as numpy refuses it).
 *
 * Poisson draws of small means are numpy's multiplication method (random_poisson_mult):
 * uniforms (next_double) multiplied until the product is at most exp(-lam). exp is
 * glibc's scalar exp, as numpy's random_poisson_mult and Python's math.exp call it (numpy's
 * SIMD exp of arrays is not used anywhere here).
 *
 * Slots: int(next_double * degree) per node: the double times the degree converted to
 * float64 (exact below 2**53), truncated toward zero as numpy's astype(int64) and
 * Python's int() truncate a finite float.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

#include "_bitgen.h"

/* a kernel's fast-call arguments: ``want`` of them (else TypeError "USAGE takes N
 * arguments"), the first a bit generator's capsule; NULL with the error set */
static bitgen_t *
bitgen_of_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *usage)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", usage, want);
        return NULL;
    }
    return get_bitgen(args[0]);
}

#define WORD_BOUND 0x100000000ULL       /* 2**32 */
#define LARGEST_BOUND 0x8000000000000000ULL /* 2**63: int64's largest exclusive high */

/* one draw in [0, b), 2 <= b <= 2**63, as numpy's random_bounded_uint64 (Lemire) */
static inline uint64_t
draw_below(bitgen_t *g, uint64_t b)
{
    if (b < WORD_BOUND) {
        uint64_t m = (uint64_t)g->next_uint32(g->state) * b;
        uint32_t left = (uint32_t)m;
        if (left < b) {
            const uint32_t threshold = (uint32_t)((WORD_BOUND - b) % b);
            while (left < threshold) {
                m = (uint64_t)g->next_uint32(g->state) * b;
                left = (uint32_t)m;
            }
        }
        return m >> 32;
    }
    if (b == WORD_BOUND) { /* numpy: a range of 0xFFFFFFFF is one whole word */
        return (uint64_t)g->next_uint32(g->state);
    }
    {
        __uint128_t m = (__uint128_t)g->next_uint64(g->state) * b;
        uint64_t left = (uint64_t)m;
        if (left < b) {
            const uint64_t threshold = (UINT64_MAX - (b - 1)) % b;
            while (left < threshold) {
                m = (__uint128_t)g->next_uint64(g->state) * b;
                left = (uint64_t)m;
            }
        }
        return (uint64_t)(m >> 64);
    }
}

/* a bound from a Python integer: 1 <= b <= 2**63, else ValueError (TypeError if not an
 * integer); returns 0 on error */
static uint64_t
as_bound(PyObject *obj)
{
    PyObject *i = PyNumber_Index(obj); /* (a Python int: numpy's integers through __index__) */
    if (i == NULL) {
        return 0;
    }
    uint64_t bound = 0;
    int overflow = 0;
    long long b = PyLong_AsLongLongAndOverflow(i, &overflow);
    if (b == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (overflow < 0 || (!overflow && b < 1)) {
        PyObject *r = PyObject_Repr(i);
        if (r != NULL) {
            PyErr_Format(PyExc_ValueError, "high <= 0: a bound of %U", r);
            Py_DECREF(r);
        }
        goto done;
    }
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(i);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) { /* above 2**64 - 1 */
            PyErr_Clear();
            u = (unsigned long long)-1;
        }
        if (u > LARGEST_BOUND) {
            PyErr_SetString(PyExc_ValueError, "high is out of bounds for int64");
            goto done;
        }
        bound = (uint64_t)u;
    }
    else {
        bound = (uint64_t)b;
    }
done:
    Py_DECREF(i);
    return bound;
}

static inline PyObject *
draw_object(bitgen_t *g, uint64_t b)
{
    if (b == 1) {
        return PyLong_FromLong(0);
    }
    return PyLong_FromUnsignedLongLong(draw_below(g, b));
}

/* ---- integer buffers (1-D, any integer format, any stride) ---- */

typedef struct {
    Py_buffer view;
    char kind; /* 's' signed, 'u' unsigned */
    Py_ssize_t len;
} ints_t;

/* a 1-D buffer of integers; 0 on success, -1 with an exception set */
static int
get_ints(PyObject *obj, ints_t *out, const char *what)
{
    if (PyObject_GetBuffer(obj, &out->view, PyBUF_RECORDS_RO) < 0) {
        return -1;
    }
    const char *f = out->view.format ? out->view.format : "B";
    if (*f == '@' || *f == '=' || *f == '<' || *f == '!' || *f == '>') {
        if (*f == '>' || *f == '!') { /* big-endian: not this host's order */
            goto bad_format;
        }
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0') {
        goto bad_format;
    }
    switch (f[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n':
        out->kind = 's';
        break;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N':
        out->kind = 'u';
        break;
    default:
        goto bad_format;
    }
    {
        Py_ssize_t size = out->view.itemsize;
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            goto bad_format;
        }
    }
    if (out->view.ndim != 1) {
        PyErr_Format(PyExc_ValueError, "%s: expected a 1-D array, got %d dimensions", what,
                     out->view.ndim);
        PyBuffer_Release(&out->view);
        return -1;
    }
    out->len = out->view.shape[0];
    return 0;
bad_format:
    PyErr_Format(PyExc_TypeError, "%s: expected an array of integers, got format '%s'", what,
                 out->view.format ? out->view.format : "B");
    PyBuffer_Release(&out->view);
    return -1;
}

/* element i (0 <= i < len) of a 64-bit unsigned buffer */
static inline uint64_t
uint64_at(const ints_t *a, Py_ssize_t i)
{
    uint64_t x;
    memcpy(&x, (const char *)a->view.buf + i * a->view.strides[0], 8);
    return x;
}

static inline int
is_uint64(const ints_t *a)
{
    return a->kind == 'u' && a->view.itemsize == 8;
}

/* element i as an int64 (a uint64 above int64's range wraps: the callers' sizes, places
 * and consumers are below it, or checked with uint64_at) */
static inline int64_t
int64_at(const ints_t *a, Py_ssize_t i)
{
    const char *p = (const char *)a->view.buf + i * a->view.strides[0];
    switch (a->view.itemsize) {
    case 1: return a->kind == 's' ? (int64_t)*(const int8_t *)p : (int64_t)*(const uint8_t *)p;
    case 2: {
        if (a->kind == 's') { int16_t x; memcpy(&x, p, 2); return x; }
        uint16_t x; memcpy(&x, p, 2); return x;
    }
    case 4: {
        if (a->kind == 's') { int32_t x; memcpy(&x, p, 4); return x; }
        uint32_t x; memcpy(&x, p, 4); return x;
    }
    default: { int64_t x; memcpy(&x, p, 8); return x; }
    }
}

/* element i as a Python int */
static inline PyObject *
int_at(const ints_t *a, Py_ssize_t i)
{
    if (is_uint64(a)) {
        return PyLong_FromUnsignedLongLong(uint64_at(a, i));
    }
    return PyLong_FromLongLong(int64_at(a, i));
}

/* element i as a float64 (the integer converted, round to nearest as numpy and Python; an
 * integer of 32 bits or fewer is exact as an int64 and as a double) */
static inline double
double_at(const ints_t *a, Py_ssize_t i)
{
    if (is_uint64(a)) {
        return (double)uint64_at(a, i);
    }
    return (double)int64_at(a, i);
}

/* a 1-D C-contiguous array of 8-byte items in this host's order: int64 (kind 'q') or
 * float64 ('d'), writable if asked; 0, or -1 with an exception set (TypeError for another
 * type or shape; the buffer released) */
static int
get_array64(PyObject *obj, Py_buffer *view, char kind, int writable, const char *what)
{
    const int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    const int same = kind == 'd' ? !strcmp(f, "d") : (!strcmp(f, "l") || !strcmp(f, "q"));
    if (view->ndim != 1 || view->itemsize != 8 || !same) {
        PyErr_Format(PyExc_TypeError, "%s must be a 1-D %s array", what,
                     kind == 'd' ? "float64" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ---- the functions ---- */

PyDoc_STRVAR(poisson_doc,
"poisson(capsule, lam) -> int\n\n"
"numpy's Poisson draw of a small mean by multiplication (random_poisson_mult): uniforms\n"
"multiplied until the product is at most exp(-lam); content._poisson's Python path.\n"
"lam == 0: 0, no draw (as numpy); lam negative, NaN or 10 and more (numpy's other\n"
"method): ValueError, no draw.");

static PyObject *
k_poisson(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 2, "poisson(capsule, lam)");
    if (g == NULL) {
        return NULL;
    }
    double lam = PyFloat_AsDouble(args[1]);
    if (lam == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!(lam >= 0.0 && lam < 10.0)) { /* (NaN too) numpy draws another way from 10 on */
        PyObject *r = PyFloat_FromDouble(lam);
        if (r != NULL) {
            PyErr_Format(PyExc_ValueError, "poisson: lam must be in [0, 10), got %R", r);
            Py_DECREF(r);
        }
        return NULL;
    }
    if (lam == 0.0) { /* numpy: 0, no draw */
        return PyLong_FromLong(0);
    }
    const double enlam = exp(-lam);
    long k = 0;
    double prod = g->next_double(g->state);
    while (prod > enlam) {
        k += 1;
        prod *= g->next_double(g->state);
    }
    return PyLong_FromLong(k);
}

PyDoc_STRVAR(draws_doc,
"draws(capsule, bound, k) -> list\n\n"
"rng.integers(0, bound, k).tolist() (k == 0: [], the bound not checked; k < 0: ValueError,\n"
"as numpy's); content._bounded(rng, [bound] * k).");

static PyObject *
k_draws(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 3, "draws(capsule, bound, k)");
    if (g == NULL) {
        return NULL;
    }
    Py_ssize_t k = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (k == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (k < 0) {
        PyErr_SetString(PyExc_ValueError, "negative dimensions are not allowed");
        return NULL;
    }
    if (k == 0) {
        return PyList_New(0);
    }
    uint64_t b = as_bound(args[1]);
    if (b == 0) {
        return NULL;
    }
    PyObject *out = PyList_New(k);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *v = draw_object(g, b);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

PyDoc_STRVAR(bounded_doc,
"bounded(capsule, bounds) -> list\n\n"
"rng.integers(0, np.array(bounds)).tolist(), one draw after the other: content._bounded.");

static PyObject *
k_bounded(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 2, "bounded(capsule, bounds)");
    if (g == NULL) {
        return NULL;
    }
    /* a tuple of the bounds (a list's items copied, each held): __index__ may run Python
     * code, which may change a list, freeing its items or their array */
    PyObject *seq = PySequence_Tuple(args[1]);
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t b = as_bound(items[i]);
        PyObject *v = b ? draw_object(g, b) : NULL;
        if (v == NULL) { /* (the draws before it are made, as in the Python loop) */
            Py_DECREF(out);
            Py_DECREF(seq);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    Py_DECREF(seq);
    return out;
}

/* c picks of array a appended at out[*at...]: its length the bound (1: no draw); a
 * length 0 raises ValueError as the Python path's bounded draw does; 0 or -1 */
static int
pick_into(bitgen_t *g, const ints_t *a, Py_ssize_t c, PyObject *out, Py_ssize_t *at)
{
    const Py_ssize_t n = a->len;
    Py_ssize_t j = *at;
    if (c <= 0) {
        return 0;
    }
    if (c > PyList_GET_SIZE(out) - j) { /* (a count changed since the list was sized) */
        PyErr_SetString(PyExc_RuntimeError, "more picks than the list was made for");
        return -1;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "high <= 0: a bound of 0");
        return -1;
    }
    if (n == 1) {
        PyObject *v = int_at(a, 0);
        if (v == NULL) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < c; i++) {
            Py_INCREF(v);
            PyList_SET_ITEM(out, j++, v);
        }
        Py_DECREF(v);
        *at = j;
        return 0;
    }
    /* (a Py_ssize_t length is below 2**63: draw_below's range) */
    const uint64_t b = (uint64_t)n;
    for (Py_ssize_t i = 0; i < c; i++) {
        /* draw_below(b) < b = len: always a valid index */
        PyObject *v = int_at(a, (Py_ssize_t)draw_below(g, b));
        if (v == NULL) {
            *at = j;
            return -1;
        }
        PyList_SET_ITEM(out, j++, v);
    }
    *at = j;
    return 0;
}

PyDoc_STRVAR(picks_doc,
"picks(capsule, values, k) -> list\n\n"
"values[rng.integers(0, len(values), k)].tolist() for a 1-D integer array (k < 0:\n"
"ValueError, as numpy's):\n"
"content._pick_each(rng, [values], [k]).");

static PyObject *
k_picks(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 3, "picks(capsule, values, k)");
    if (g == NULL) {
        return NULL;
    }
    Py_ssize_t k = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (k == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (k < 0) {
        PyErr_SetString(PyExc_ValueError, "negative dimensions are not allowed");
        return NULL;
    }
    ints_t a;
    if (get_ints(args[1], &a, "picks") < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(k);
    Py_ssize_t at = 0;
    if (out == NULL || pick_into(g, &a, k, out, &at) < 0) {
        Py_XDECREF(out);
        PyBuffer_Release(&a.view);
        return NULL;
    }
    PyBuffer_Release(&a.view);
    return out;
}

PyDoc_STRVAR(pick_each_doc,
"pick_each(capsule, pool, counts) -> list\n\n"
"counts[i] uniform picks of each 1-D integer array pool[i] in turn (the bounded draws of\n"
"rng.integers(0, bounds) with each length repeated by its count): content._pick_each.");

static PyObject *
k_pick_each(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 3, "pick_each(capsule, pool, counts)");
    if (g == NULL) {
        return NULL;
    }
    /* tuples of both (a list's items copied, each held): __index__ and a buffer's
     * __buffer__ may run Python code, which may change a list */
    PyObject *pool = PySequence_Tuple(args[1]);
    if (pool == NULL) {
        return NULL;
    }
    PyObject *counts = PySequence_Tuple(args[2]);
    if (counts == NULL) {
        Py_DECREF(pool);
        return NULL;
    }
    PyObject *out = NULL;
    Py_ssize_t stack[16];
    Py_ssize_t *cs = stack; /* each count read once (__index__ may differ a second time) */
    Py_ssize_t n = PyTuple_GET_SIZE(pool);
    if (PyTuple_GET_SIZE(counts) != n) {
        PyErr_SetString(PyExc_ValueError, "pick_each: pool and counts differ in length");
        goto done;
    }
    if (n > 16 && (cs = PyMem_New(Py_ssize_t, n)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t c = PyNumber_AsSsize_t(PyTuple_GET_ITEM(counts, i), PyExc_OverflowError);
        if (c == -1 && PyErr_Occurred()) {
            goto done;
        }
        cs[i] = c;
        if (c > 0) {
            if (total > PY_SSIZE_T_MAX - c) {
                PyErr_SetString(PyExc_OverflowError, "pick_each: too many picks");
                goto done;
            }
            total += c;
        }
    }
    out = PyList_New(total);
    if (out == NULL) {
        goto done;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Py_ssize_t c = cs[i];
        if (c <= 0) {
            continue;
        }
        ints_t a;
        if (get_ints(PyTuple_GET_ITEM(pool, i), &a, "pick_each") < 0) {
            Py_CLEAR(out);
            goto done;
        }
        int r = pick_into(g, &a, c, out, &at);
        PyBuffer_Release(&a.view);
        if (r < 0) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    if (cs != stack) {
        PyMem_Free(cs); /* (NULL if not made) */
    }
    Py_DECREF(pool);
    Py_DECREF(counts);
    return out;
}

PyDoc_STRVAR(slot_list_doc,
"slot_list(capsule, degrees, nodes) -> list\n\n"
"[int(rng.random() * degrees[i]) for i in nodes]: the doubles of rng.random(len(nodes)),\n"
"times each node's degree, truncated: SocialGraph.neighbour_slot_list. A node out of\n"
"range raises IndexError before any draw (negative ones count from the end).");

static PyObject *
k_slot_list(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 3, "slot_list(capsule, degrees, nodes)");
    if (g == NULL) {
        return NULL;
    }
    /* a tuple of the nodes (a list's items copied, each held): __index__ may run Python
     * code, which may change a list */
    PyObject *nodes = PySequence_Tuple(args[2]);
    if (nodes == NULL) {
        return NULL;
    }
    ints_t d;
    if (get_ints(args[1], &d, "slot_list") < 0) {
        Py_DECREF(nodes);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(nodes);
    PyObject **items = &PyTuple_GET_ITEM(nodes, 0);
    PyObject *out = NULL;
    Py_ssize_t stack[64];
    Py_ssize_t *at = n <= 64 ? stack : PyMem_New(Py_ssize_t, n);
    if (at == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) { /* every index checked first */
        Py_ssize_t v = PyNumber_AsSsize_t(items[i], PyExc_IndexError);
        if (v == -1 && PyErr_Occurred()) {
            goto done;
        }
        if (v < 0) {
            v += d.len;
        }
        if (v < 0 || v >= d.len) {
            PyErr_SetString(PyExc_IndexError, "slot_list: a node out of range");
            goto done;
        }
        at[i] = v;
    }
    out = PyList_New(n);
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const double x = g->next_double(g->state) * double_at(&d, at[i]);
        PyObject *v = PyLong_FromLongLong((long long)x); /* |x| < the degree: in range */
        if (v == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, v);
    }
done:
    if (at != NULL && at != stack) {
        PyMem_Free(at);
    }
    PyBuffer_Release(&d.view);
    Py_DECREF(nodes);
    return out;
}

PyDoc_STRVAR(pool_picks_doc,
"pool_picks(capsule, counts, first, sizes, starts, pool, out) -> None\n\n"
"The joined pool's picks of Post._sharers: for each hour h in turn with counts[h] > 0\n"
"(entry e = first + h), counts[h] uniform draws below sizes[e], each at\n"
"pool[starts[e] + draw], written into out (int64, len(out) == sum(counts)): the draws of\n"
"rng.integers(0, sizes[first + drawn].repeat(counts[drawn])) in the same order, and\n"
"pool[pick + starts[first + drawn].repeat(counts[drawn])]. Every entry, size, place and\n"
"count is checked before any draw (IndexError, ValueError).");

static PyObject *
k_pool_picks(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 7,
                                 "pool_picks(capsule, counts, first, sizes, starts, pool, out)");
    if (g == NULL) {
        return NULL;
    }
    Py_ssize_t first = PyNumber_AsSsize_t(args[2], PyExc_IndexError);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    ints_t counts, sizes, starts, pool;
    Py_buffer out;
    int got = 0; /* buffers taken, in the order above */
    PyObject *result = NULL;
    if (get_ints(args[1], &counts, "pool_picks: counts") < 0) goto done;
    got = 1;
    if (get_ints(args[3], &sizes, "pool_picks: sizes") < 0) goto done;
    got = 2;
    if (get_ints(args[4], &starts, "pool_picks: starts") < 0) goto done;
    got = 3;
    if (get_ints(args[5], &pool, "pool_picks: pool") < 0) goto done;
    got = 4;
    if (get_array64(args[6], &out, 'q', 1, "pool_picks: out") < 0) goto done;
    got = 5;
    /* every entry read checked first: no draw is made when one is out of range */
    const Py_ssize_t hours = counts.len;
    const Py_ssize_t n_out = out.shape[0];
    Py_ssize_t total = 0;
    if (first < 0 || first > sizes.len || hours > sizes.len - first || sizes.len > starts.len) {
        PyErr_SetString(PyExc_IndexError, "pool_picks: an entry out of range");
        goto done;
    }
    for (Py_ssize_t h = 0; h < hours; h++) {
        const int64_t c = int64_at(&counts, h);
        if (c < 0) {
            PyErr_SetString(PyExc_ValueError, "pool_picks: a negative count");
            goto done;
        }
        if (c == 0) {
            continue;
        }
        const int64_t size = int64_at(&sizes, first + h);
        const int64_t start = int64_at(&starts, first + h);
        if (size < 1) {
            PyErr_SetString(PyExc_ValueError, "high <= 0: an entry of no viewers");
            goto done;
        }
        if (start < 0 || start > pool.len || size > pool.len - start) {
            PyErr_SetString(PyExc_IndexError, "pool_picks: an entry's viewers past the pool");
            goto done;
        }
        if (c > n_out - total) {
            PyErr_SetString(PyExc_ValueError, "pool_picks: out is shorter than the counts");
            goto done;
        }
        total += (Py_ssize_t)c;
    }
    if (total != n_out) {
        PyErr_SetString(PyExc_ValueError, "pool_picks: out is longer than the counts");
        goto done;
    }
    {
        int64_t *o = (int64_t *)out.buf;
        for (Py_ssize_t h = 0; h < hours; h++) {
            const int64_t c = int64_at(&counts, h);
            if (c == 0) {
                continue;
            }
            const uint64_t size = (uint64_t)int64_at(&sizes, first + h);
            const Py_ssize_t start = (Py_ssize_t)int64_at(&starts, first + h);
            for (int64_t i = 0; i < c; i++) {
                /* start + a draw below size: inside the pool (checked above) */
                const Py_ssize_t at = size == 1 ? start : start + (Py_ssize_t)draw_below(g, size);
                *o++ = int64_at(&pool, at);
            }
        }
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    if (got >= 5) PyBuffer_Release(&out);
    if (got >= 4) PyBuffer_Release(&pool.view);
    if (got >= 3) PyBuffer_Release(&starts.view);
    if (got >= 2) PyBuffer_Release(&sizes.view);
    if (got >= 1) PyBuffer_Release(&counts.view);
    return result;
}

PyDoc_STRVAR(slots_doc,
"slots(capsule, degrees, nodes, out) -> None\n\n"
"(rng.random(len(nodes)) * degrees[nodes]).astype(np.int64) written into out (1-D int64,\n"
"as long as nodes): SocialGraph.neighbour_slots. nodes: a 1-D integer array (negative ones\n"
"count from the end); one out of range raises IndexError before any draw.");

static PyObject *
k_slots(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 4, "slots(capsule, degrees, nodes, out)");
    if (g == NULL) {
        return NULL;
    }
    ints_t d, nodes;
    Py_buffer out;
    int got = 0;
    PyObject *result = NULL;
    if (get_ints(args[1], &d, "slots: degrees") < 0) goto done;
    got = 1;
    if (get_ints(args[2], &nodes, "slots: nodes") < 0) goto done;
    got = 2;
    if (get_array64(args[3], &out, 'q', 1, "slots: out") < 0) goto done;
    got = 3;
    const Py_ssize_t n = nodes.len;
    if (out.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "slots: out and nodes differ in length");
        goto done;
    }
    int64_t *o = (int64_t *)out.buf;
    for (Py_ssize_t i = 0; i < n; i++) { /* every index checked first, kept in out */
        int64_t v;
        if (is_uint64(&nodes)) {
            const uint64_t u = uint64_at(&nodes, i);
            v = u > (uint64_t)INT64_MAX ? -1 - (int64_t)d.len : (int64_t)u; /* (out of range) */
        }
        else {
            v = int64_at(&nodes, i);
        }
        if (v < 0) {
            v += d.len;
        }
        if (v < 0 || v >= d.len) {
            PyErr_SetString(PyExc_IndexError, "slots: a node out of range");
            goto done;
        }
        o[i] = v;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const double x = g->next_double(g->state) * double_at(&d, (Py_ssize_t)o[i]);
        o[i] = (int64_t)x; /* |x| < the degree: in range */
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    if (got >= 3) PyBuffer_Release(&out);
    if (got >= 2) PyBuffer_Release(&nodes.view);
    if (got >= 1) PyBuffer_Release(&d.view);
    return result;
}

PyDoc_STRVAR(pick_hours_doc,
"pick_hours(capsule, viewers, counts) -> list\n\n"
"Post._sharers' picks of a few sharers from several hours: counts[h] uniform picks of\n"
"viewers[h][1] (a 1-D integer array) for each hour h in turn with counts[h] > 0 (len(counts)\n"
"== len(viewers)): pick_each of those arrays and counts.");

static PyObject *
k_pick_hours(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 3, "pick_hours(capsule, viewers, counts)");
    if (g == NULL) {
        return NULL;
    }
    if (!PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "pick_hours: viewers must be a list");
        return NULL;
    }
    /* a tuple of the viewers (each held): an array's __buffer__ may run Python code, which
     * may change the list, or the counts (pick_into checks the room left in out) */
    PyObject *viewers = PyList_AsTuple(args[1]);
    if (viewers == NULL) {
        return NULL;
    }
    ints_t counts;
    if (get_ints(args[2], &counts, "pick_hours: counts") < 0) {
        Py_DECREF(viewers);
        return NULL;
    }
    PyObject *out = NULL;
    const Py_ssize_t hours = counts.len;
    if (PyTuple_GET_SIZE(viewers) != hours) {
        PyErr_SetString(PyExc_ValueError, "pick_hours: viewers and counts differ in length");
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t h = 0; h < hours; h++) {
        const int64_t c = int64_at(&counts, h);
        if (c > 0) {
            if (c > PY_SSIZE_T_MAX - total) {
                PyErr_SetString(PyExc_OverflowError, "pick_hours: too many picks");
                goto done;
            }
            total += (Py_ssize_t)c;
        }
    }
    out = PyList_New(total);
    if (out == NULL) {
        goto done;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t h = 0; h < hours; h++) {
        const int64_t c = int64_at(&counts, h);
        if (c <= 0) {
            continue;
        }
        PyObject *entry = PyTuple_GET_ITEM(viewers, h);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 2) {
            PyErr_SetString(PyExc_TypeError,
                            "pick_hours: each of viewers must be a tuple (hour, array, ...)");
            Py_CLEAR(out);
            goto done;
        }
        PyObject *array = PyTuple_GET_ITEM(entry, 1);
        Py_INCREF(array); /* (held while read) */
        ints_t a;
        int r = get_ints(array, &a, "pick_hours");
        if (r == 0) {
            r = pick_into(g, &a, (Py_ssize_t)c, out, &at);
            PyBuffer_Release(&a.view);
        }
        Py_DECREF(array);
        if (r < 0) {
            Py_CLEAR(out);
            goto done;
        }
    }
    if (at != total) { /* (a count made smaller meanwhile: the list not filled) */
        PyErr_SetString(PyExc_RuntimeError, "pick_hours: the counts changed while read");
        Py_CLEAR(out);
    }
done:
    PyBuffer_Release(&counts.view);
    Py_DECREF(viewers);
    return out;
}

/* the sum numpy's add.reduce makes of a contiguous float64 array (its pairwise summation:
 * below 8 values in turn from 0; up to 128, eight running sums over the values in steps
 * of 8, added ((0+1)+(2+3))+((4+5)+(6+7)), then the rest in turn; above, the two halves'
 * sums (the first half a multiple of 8 long) added), started from 0 */
static double
pairwise_sum(const double *a, Py_ssize_t n)
{
    if (n < 8) {
        double res = 0.;
        for (Py_ssize_t i = 0; i < n; i++) {
            res += a[i];
        }
        return res;
    }
    if (n <= 128) {
        double r[8];
        Py_ssize_t i;
        for (int j = 0; j < 8; j++) {
            r[j] = a[j];
        }
        for (i = 8; i < n - (n % 8); i += 8) {
            for (int j = 0; j < 8; j++) {
                r[j] += a[i + j];
            }
        }
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            res += a[i];
        }
        return res;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

PyDoc_STRVAR(weights_doc,
"weights(mass, hours, first, end, powers, out) -> bool\n\n"
"Post._sharers' multinomial probabilities: w = mass[first:end] * powers[hours[first:end]]\n"
"(float64; hours index powers, negative ones from its end), total = np.add.reduce(w) (its\n"
"pairwise sum), and, when total > 0, w / total, written into out (float64, end - first\n"
"long); returns whether total > 0 (out then holds the products only).");

static PyObject *
k_weights(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "weights(mass, hours, first, end, powers, out) takes 6 arguments");
        return NULL;
    }
    Py_ssize_t first = PyNumber_AsSsize_t(args[2], PyExc_IndexError);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t end = PyNumber_AsSsize_t(args[3], PyExc_IndexError);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer mass, powers, out;
    ints_t hours;
    int got = 0;
    PyObject *result = NULL;
    if (get_array64(args[0], &mass, 'd', 0, "weights: mass") < 0) goto done;
    got = 1;
    if (get_ints(args[1], &hours, "weights: hours") < 0) goto done;
    got = 2;
    if (get_array64(args[4], &powers, 'd', 0, "weights: powers") < 0) goto done;
    got = 3;
    if (get_array64(args[5], &out, 'd', 1, "weights: out") < 0) goto done;
    got = 4;
    const Py_ssize_t n_mass = mass.shape[0], n_powers = powers.shape[0];
    if (first < 0 || end < first || end > n_mass || end > hours.len) {
        PyErr_SetString(PyExc_IndexError, "weights: entries out of range");
        goto done;
    }
    const Py_ssize_t n = end - first;
    if (out.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "weights: out is not end - first long");
        goto done;
    }
    const double *m = (const double *)mass.buf, *p = (const double *)powers.buf;
    double *w = (double *)out.buf;
    for (Py_ssize_t i = 0; i < n; i++) { /* every hour checked first */
        int64_t h = int64_at(&hours, first + i);
        if (h < 0) {
            h += n_powers;
        }
        if (h < 0 || h >= n_powers) {
            PyErr_SetString(PyExc_IndexError, "weights: an hour out of range of the powers");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t h = int64_at(&hours, first + i);
        if (h < 0) {
            h += n_powers;
        }
        w[i] = m[first + i] * p[h];
    }
    const double total = 0. + pairwise_sum(w, n);
    if (!(total > 0)) {
        result = Py_False;
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++) {
            w[i] = w[i] / total;
        }
        result = Py_True;
    }
    Py_INCREF(result);
done:
    if (got >= 4) PyBuffer_Release(&out);
    if (got >= 3) PyBuffer_Release(&powers);
    if (got >= 2) PyBuffer_Release(&hours.view);
    if (got >= 1) PyBuffer_Release(&mass);
    return result;
}

PyDoc_STRVAR(picks_into_doc,
"picks_into(capsule, values, out) -> None\n\n"
"values[rng.integers(0, len(values), len(out))] written into out (1-D int64; the values\n"
"as int64, as astype(np.int64) makes them): content._picks of many.");

static PyObject *
k_picks_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    bitgen_t *g = bitgen_of_args(args, nargs, 3, "picks_into(capsule, values, out)");
    if (g == NULL) {
        return NULL;
    }
    ints_t a;
    Py_buffer out;
    if (get_ints(args[1], &a, "picks_into") < 0) {
        return NULL;
    }
    if (get_array64(args[2], &out, 'q', 1, "picks_into: out") < 0) {
        PyBuffer_Release(&a.view);
        return NULL;
    }
    PyObject *result = NULL;
    const Py_ssize_t k = out.shape[0];
    int64_t *o = (int64_t *)out.buf;
    if (k > 0 && a.len < 1) {
        PyErr_SetString(PyExc_ValueError, "high <= 0: a bound of 0");
        goto done;
    }
    if (a.len == 1) { /* no draw */
        const int64_t v = int64_at(&a, 0);
        for (Py_ssize_t i = 0; i < k; i++) {
            o[i] = v;
        }
    }
    else {
        const uint64_t b = (uint64_t)a.len;
        for (Py_ssize_t i = 0; i < k; i++) {
            o[i] = int64_at(&a, (Py_ssize_t)draw_below(g, b)); /* below len: in range */
        }
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&a.view);
    return result;
}

static PyMethodDef methods[] = {
    {"poisson", (PyCFunction)(void (*)(void))k_poisson, METH_FASTCALL, poisson_doc},
    {"draws", (PyCFunction)(void (*)(void))k_draws, METH_FASTCALL, draws_doc},
    {"bounded", (PyCFunction)(void (*)(void))k_bounded, METH_FASTCALL, bounded_doc},
    {"picks", (PyCFunction)(void (*)(void))k_picks, METH_FASTCALL, picks_doc},
    {"pick_each", (PyCFunction)(void (*)(void))k_pick_each, METH_FASTCALL, pick_each_doc},
    {"slot_list", (PyCFunction)(void (*)(void))k_slot_list, METH_FASTCALL, slot_list_doc},
    {"pool_picks", (PyCFunction)(void (*)(void))k_pool_picks, METH_FASTCALL, pool_picks_doc},
    {"slots", (PyCFunction)(void (*)(void))k_slots, METH_FASTCALL, slots_doc},
    {"pick_hours", (PyCFunction)(void (*)(void))k_pick_hours, METH_FASTCALL, pick_hours_doc},
    {"weights", (PyCFunction)(void (*)(void))k_weights, METH_FASTCALL, weights_doc},
    {"picks_into", (PyCFunction)(void (*)(void))k_picks_into, METH_FASTCALL, picks_into_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sim._draws",
    "The content phase's draw loops on the generator's own C functions (sim/content.py).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__draws(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

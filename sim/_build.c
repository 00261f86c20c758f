/* The build's KOL samples and the social graph's layout (sim/agents/kol.py `_followers`,
 * sim/social_graph.py `_layout`), compiled.
 *
 * layout(community, a, free, attention, order, weight) places one chunk of consumers along
 * the social graph's layout (sim/social_graph.py `_layout`): each consumer, in turn, at its
 * community's next free place. Consumers are taken in ascending order and a community's
 * block starts at its first free place, so the order is np.argsort(community,
 * kind="stable"), as the Python path's sorted chunks give it, with the same float32
 * attentions beside (drawn by numpy in Python, as before).
 *
 * tail_sample(capsule, n, k, out) writes what `rng.choice(n, size=k, replace=False)`
 * returns when numpy takes its tail-shuffle path (n > 10000 and k > n // 50, numpy's
 * Generator.choice with shuffle=True, numpy/random/_generator.pyx): numpy makes
 * idx = arange(n) (int64), runs `_shuffle_int(bitgen, n, max(n - k, 1), idx)`
 *     for i = n - 1 down to first: j = random_bounded_uint64(bitgen, 0, i, 0, 0);
 *                                  swap idx[i], idx[j]
 * and returns a copy of idx[n - k:]. The draws here are the same: j in [0, i] by Lemire's
 * method, which this kernel re-implements (it calls none of numpy's C functions) as numpy's
 * random_bounded_uint64 with use_masked false does it: 32-bit words while i + 1 < 2**32,
 * each from the bit generator's next_uint32, redrawn while the product's low word is below
 * (2**32 - (i + 1)) % (i + 1), checked only when it is below i + 1; in the same order, so
 * the generator's state afterwards is numpy's.
 *
 * The values are numpy's, without its 8-byte array of n: position p's value is kept as
 * its difference from p in an int32 table of n entries that starts all zero (calloc: the
 * identity, no pass to fill it), and step i's value is written straight to out[i - (n - k)]
 * (no later step touches position i: its j's are at most i - 1). When k == n, numpy's loop
 * stops at i = 1 and position 0 keeps the value left there: out[0]. The j's are drawn a
 * few steps ahead of their swap (the same draws in the same order: a draw never depends on
 * the table) so that the table's entries are fetched before they are read.
 *
 * n must be below 2**31 (every value and difference fits an int32) and the path numpy's
 * tail shuffle (10000 < n, n // 50 < k <= n); out a writable 1-D C-contiguous int32 or
 * int64 array of k items. Else ValueError / TypeError, no draw. The GIL is released
 * during the loop (numpy's loop releases it too, holding the bit generator's lock: the
 * caller takes that lock around the call, sim/agents/kol.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

#include "_bitgen.h" /* numpy's bitgen_t and get_bitgen */

#define WORD_BOUND 0x100000000ULL /* 2**32 */
#define AHEAD 16                  /* steps whose j is drawn before their swap (power of 2) */
#define LAYOUT_BLOCK 64           /* consumers placed, then written, together (layout) */

/* j in [0, i], 1 <= i < 2**31: numpy's random_bounded_uint64(bitgen, 0, i, 0, 0), whose
 * range i is below 0xFFFFFFFF: buffered_bounded_lemire_uint32 */
static inline uint32_t
draw_upto(bitgen_t *g, uint32_t i)
{
    const uint32_t b = i + 1; /* rng_excl */
    uint64_t m = (uint64_t)g->next_uint32(g->state) * b;
    uint32_t left = (uint32_t)m;
    if (left < b) {
        const uint32_t threshold = (UINT32_MAX - i) % b;
        while (left < threshold) {
            m = (uint64_t)g->next_uint32(g->state) * b;
            left = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* the tail shuffle: out[t] (t < k) = idx[n - k + t] after numpy's loop; 0, or -1 when the
 * table cannot be allocated (no draw then) */
static int
tail_shuffle(bitgen_t *g, int64_t n, int64_t k, int32_t *out32, int64_t *out64)
{
    int32_t *diff = (int32_t *)calloc((size_t)n, sizeof(int32_t));
    if (diff == NULL) {
        return -1;
    }
    const int64_t base = n - k;
    const int64_t first = base > 1 ? base : 1;
    uint32_t ring[AHEAD];
    /* the j's of steps n - 1 down to first, drawn AHEAD steps before their swap */
    int64_t drawn = n - 1; /* the next step whose j is to be drawn */
    for (int a = 0; a < AHEAD && drawn >= first; a++, drawn--) {
        const uint32_t j = draw_upto(g, (uint32_t)drawn);
        ring[drawn & (AHEAD - 1)] = j;
        __builtin_prefetch(&diff[j], 1, 0);
    }
    for (int64_t i = n - 1; i >= first; i--) {
        const uint32_t j = ring[i & (AHEAD - 1)];
        if (drawn >= first) {
            const uint32_t jn = draw_upto(g, (uint32_t)drawn);
            ring[drawn & (AHEAD - 1)] = jn;
            __builtin_prefetch(&diff[jn], 1, 0);
            drawn--;
        }
        const int64_t vi = i + diff[i];
        const int64_t vj = (int64_t)j + diff[j];
        diff[j] = (int32_t)(vi - (int64_t)j);
        /* (position i is final: write its value; j == i leaves it in place) */
        if (out32 != NULL) {
            out32[i - base] = (int32_t)vj;
        }
        else {
            out64[i - base] = vj;
        }
    }
    if (base == 0) { /* k == n: numpy's loop leaves position 0 as it is */
        if (out32 != NULL) {
            out32[0] = diff[0];
        }
        else {
            out64[0] = diff[0];
        }
    }
    free(diff);
    return 0;
}

PyDoc_STRVAR(tail_sample_doc,
"tail_sample(capsule, n, k, out) -> None\n\n"
"Fill out (a writable 1-D C-contiguous int32 or int64 array of k items) with\n"
"rng.choice(n, size=k, replace=False) on numpy's tail-shuffle path (10000 < n < 2**31,\n"
"n // 50 < k <= n), the same draws from the bit generator of capsule\n"
"(rng.bit_generator.capsule). Otherwise ValueError or TypeError, and no draw.");

static PyObject *
k_tail_sample(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "tail_sample(capsule, n, k, out) takes 4 arguments");
        return NULL;
    }
    bitgen_t *g = get_bitgen(args[0]);
    if (g == NULL) {
        return NULL;
    }
    const long long n = PyLong_AsLongLong(args[1]);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const long long k = PyLong_AsLongLong(args[2]);
    if (k == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!(n > 10000 && n < 0x80000000LL && k > n / 50 && k <= n)) {
        PyErr_Format(PyExc_ValueError,
                     "tail_sample: n and k are not numpy's tail-shuffle path below 2**31 "
                     "(10000 < n < 2**31, n // 50 < k <= n): n=%lld, k=%lld", n, k);
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[3], &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
        < 0) {
        return NULL;
    }
    const char *f = view.format ? view.format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    const int is32 = view.itemsize == 4 && (!strcmp(f, "i") || !strcmp(f, "l"));
    const int is64 = view.itemsize == 8 && (!strcmp(f, "l") || !strcmp(f, "q"));
    if (view.ndim != 1 || !(is32 || is64)) {
        PyErr_SetString(PyExc_TypeError, "tail_sample: out must be a 1-D int32 or int64 array");
        PyBuffer_Release(&view);
        return NULL;
    }
    if (view.shape[0] != k) {
        PyErr_Format(PyExc_ValueError, "tail_sample: out has %zd items, not k=%lld",
                     view.shape[0], k);
        PyBuffer_Release(&view);
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = tail_shuffle(g, (int64_t)n, (int64_t)k, is32 ? (int32_t *)view.buf : NULL,
                          is32 ? NULL : (int64_t *)view.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (status < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* a writable (if asked) 1-D C-contiguous buffer of items of `size` bytes whose format is one
 * of `formats` (a string of one-letter codes); 0, or -1 with TypeError set (released) */
static int
get_column(PyObject *obj, Py_buffer *view, Py_ssize_t size, const char *formats, int writable,
           const char *what)
{
    const int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (view->ndim != 1 || view->itemsize != size || f[0] == '\0' || f[1] != '\0'
        || strchr(formats, f[0]) == NULL) {
        PyErr_Format(PyExc_TypeError, "layout: %s has the wrong type or shape", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(layout_doc,
"layout(community, a, free, attention, order, weight) -> None\n\n"
"One chunk of sim.social_graph._layout: consumers a .. a + len(attention) - 1 in turn,\n"
"each written at its community's next free place d = free[c] (then free[c] + 1):\n"
"order[d] = the consumer, weight[d] = its attention. community int32, free int64 (the\n"
"next free place of each community, updated), attention float32, order int32 and\n"
"weight float32 (writable). A community outside free, a place outside order or weight, or\n"
"a consumer outside community: IndexError, with the chunk's writes before it kept.");

static PyObject *
k_layout(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "layout(community, a, free, attention, order, weight) takes 6 arguments");
        return NULL;
    }
    const Py_ssize_t a = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (a == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer comm, free_, att, order, weight;
    if (get_column(args[0], &comm, 4, "i", 0, "community") < 0) {
        return NULL;
    }
    if (get_column(args[2], &free_, 8, "lq", 1, "free") < 0) {
        PyBuffer_Release(&comm);
        return NULL;
    }
    if (get_column(args[3], &att, 4, "f", 0, "attention") < 0) {
        PyBuffer_Release(&free_);
        PyBuffer_Release(&comm);
        return NULL;
    }
    if (get_column(args[4], &order, 4, "i", 1, "order") < 0) {
        PyBuffer_Release(&att);
        PyBuffer_Release(&free_);
        PyBuffer_Release(&comm);
        return NULL;
    }
    if (get_column(args[5], &weight, 4, "f", 1, "weight") < 0) {
        PyBuffer_Release(&order);
        PyBuffer_Release(&att);
        PyBuffer_Release(&free_);
        PyBuffer_Release(&comm);
        return NULL;
    }
    const Py_ssize_t m = att.shape[0], n_comm = comm.shape[0], n_free = free_.shape[0];
    const Py_ssize_t places = order.shape[0] < weight.shape[0] ? order.shape[0] : weight.shape[0];
    const int32_t *c = (const int32_t *)comm.buf;
    int64_t *fr = (int64_t *)free_.buf;
    const float *w = (const float *)att.buf;
    int32_t *o = (int32_t *)order.buf;
    float *wt = (float *)weight.buf;
    int placed = 1; /* every consumer of the chunk placed */
    Py_ssize_t bad = a; /* else the first that could not be */
    if (a < 0 || a > n_comm || m > n_comm - a || a + m > (Py_ssize_t)INT32_MAX + 1) {
        placed = 0;
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        /* a block's places first (each fetched for writing as soon as it is known), then
         * its writes: the same places and values as one consumer after the other */
        int64_t dest[LAYOUT_BLOCK];
        for (Py_ssize_t t0 = 0; t0 < m && placed; t0 += LAYOUT_BLOCK) {
            const Py_ssize_t t1 = t0 + LAYOUT_BLOCK < m ? t0 + LAYOUT_BLOCK : m;
            Py_ssize_t t = t0;
            for (; t < t1; t++) {
                const int32_t ci = c[a + t];
                if (ci < 0 || (Py_ssize_t)ci >= n_free) {
                    placed = 0, bad = a + t;
                    break;
                }
                const int64_t d = fr[ci];
                if (d < 0 || d >= (int64_t)places) {
                    placed = 0, bad = a + t;
                    break;
                }
                fr[ci] = d + 1;
                dest[t - t0] = d;
                __builtin_prefetch(&o[d], 1, 1);
                __builtin_prefetch(&wt[d], 1, 1);
            }
            for (Py_ssize_t u = t0; u < t; u++) { /* (up to the first bad one) */
                const int64_t d = dest[u - t0];
                o[d] = (int32_t)(a + u);
                wt[d] = w[u];
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&weight);
    PyBuffer_Release(&order);
    PyBuffer_Release(&att);
    PyBuffer_Release(&free_);
    PyBuffer_Release(&comm);
    if (!placed) {
        PyErr_Format(PyExc_IndexError,
                     "layout: consumer %zd is outside the community column, or its community "
                     "or place outside the tables", bad);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"tail_sample", (PyCFunction)(void (*)(void))k_tail_sample, METH_FASTCALL, tail_sample_doc},
    {"layout", (PyCFunction)(void (*)(void))k_layout, METH_FASTCALL, layout_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sim._build",
    "The build's two steps in C: tail_sample, the KOLs' follower samples on numpy's\n"
    "tail-shuffle path of rng.choice (sim/agents/kol.py _followers), and layout, the social\n"
    "graph's layout (sim/social_graph.py _layout). tail_sample re-implements numpy's 32-bit\n"
    "Lemire draw (random_bounded_uint64 with use_masked false) on the bit generator's\n"
    "next_uint32: the same words in the same order, the same values and state afterwards.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__build(void)
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
